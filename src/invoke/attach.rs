//! Images and documents sent with the prompt (`--image FILE`, `--document
//! FILE`), as Converse content blocks: read and checked before any call
//! against Converse's limits and the formats it names, and against what the
//! chosen model is documented to take.

use super::families;
use super::request::Request;
use crate::error::{Error, Result};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat,
    ImageSource,
};
use std::path::{Path, PathBuf};

/// Converse's limits (Amazon Bedrock User Guide, Converse API: images and
/// documents in a message).
const MAX_IMAGES: usize = 20;
const MAX_IMAGE_BYTES: u64 = 3_932_160;
const MAX_DOCUMENTS: usize = 5;
const MAX_DOCUMENT_BYTES: u64 = 4_718_592;

/// What a file is sent as.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// An image block.
    Image(ImageFormat),
    /// A document block and the name it is given.
    Document(DocumentFormat, String),
}

/// A file to send with the prompt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attachment {
    /// How it is sent.
    pub(crate) kind: Kind,
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
    /// Where it came from.
    pub(crate) path: PathBuf,
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn image_format(path: &Path) -> Option<ImageFormat> {
    Some(match extension(path).as_str() {
        "png" => ImageFormat::Png,
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "gif" => ImageFormat::Gif,
        "webp" => ImageFormat::Webp,
        _ => return None,
    })
}

fn document_format(path: &Path) -> Option<DocumentFormat> {
    Some(match extension(path).as_str() {
        "pdf" => DocumentFormat::Pdf,
        "csv" => DocumentFormat::Csv,
        "doc" => DocumentFormat::Doc,
        "docx" => DocumentFormat::Docx,
        "xls" => DocumentFormat::Xls,
        "xlsx" => DocumentFormat::Xlsx,
        "html" | "htm" => DocumentFormat::Html,
        "txt" => DocumentFormat::Txt,
        "md" | "markdown" => DocumentFormat::Md,
        _ => return None,
    })
}

/// A document's name as Converse takes it: letters, digits, single spaces,
/// hyphens, parentheses and square brackets; others become hyphens.
fn document_name(path: &Path, taken: &[String]) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '-'
        };
        if !(c == ' ' && name.ends_with(' ')) {
            name.push(c);
        }
    }
    let name = match name.trim() {
        "" => "document".to_string(),
        n => n.to_string(),
    };
    let mut unique = name.clone();
    let mut n = 2;
    while taken.contains(&unique) {
        unique = format!("{name}-{n}");
        n += 1;
    }
    unique
}

fn read(path: &Path, flag: &str, limit: u64) -> Result<Vec<u8>> {
    let unreadable =
        |e: std::io::Error| Error::Usage(format!("{flag} {}: cannot read it: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.len() > limit {
        return Err(Error::Usage(format!(
            "{flag} {}: {} bytes; Converse takes at most {limit} bytes per file",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(unreadable)
}

/// Reads the files of `--image` and `--document`, checking formats, sizes
/// and counts.
pub(crate) fn read_all(images: &[PathBuf], documents: &[PathBuf]) -> Result<Vec<Attachment>> {
    if images.len() > MAX_IMAGES {
        return Err(Error::Usage(format!(
            "--image: {} images; Converse takes at most {MAX_IMAGES} in a message",
            images.len()
        )));
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(Error::Usage(format!(
            "--document: {} documents; Converse takes at most {MAX_DOCUMENTS} in a message",
            documents.len()
        )));
    }
    let mut out = Vec::new();
    for path in images {
        let format = image_format(path).ok_or_else(|| {
            Error::Usage(format!(
                "--image {}: expected a .png, .jpg, .jpeg, .gif or .webp file",
                path.display()
            ))
        })?;
        out.push(Attachment {
            kind: Kind::Image(format),
            bytes: read(path, "--image", MAX_IMAGE_BYTES)?,
            path: path.clone(),
        });
    }
    let mut names = Vec::new();
    for path in documents {
        let format = document_format(path).ok_or_else(|| {
            Error::Usage(format!(
                "--document {}: expected a .pdf, .csv, .doc, .docx, .xls, .xlsx, .html, .txt or .md file",
                path.display()
            ))
        })?;
        let name = document_name(path, &names);
        names.push(name.clone());
        out.push(Attachment {
            kind: Kind::Document(format, name),
            bytes: read(path, "--document", MAX_DOCUMENT_BYTES)?,
            path: path.clone(),
        });
    }
    Ok(out)
}

/// Refuses, before any call, attachments the request or the model cannot
/// take: InvokeModel bodies are sent as written, and a model the Bedrock
/// User Guide lists without image (or document) input gets none.
pub(crate) fn check(attachments: &[Attachment], request: &Request, model: &str) -> Result<()> {
    let Some(first) = attachments.first() else {
        return Ok(());
    };
    if let Request::Invoke { from, .. } = request {
        return Err(Error::Usage(format!(
            "{}: images and documents go with a Converse request (--prompt, piped text or the workshop flow); \
             an InvokeModel body ({}) is sent as written: put them in the body",
            first.path.display(),
            from.display()
        )));
    }
    let base = families::base_model_id(model);
    for a in attachments {
        let (what, takes) = match a.kind {
            Kind::Image(_) => ("images", families::takes_images(model)),
            Kind::Document(..) => ("documents", families::takes_documents(model)),
        };
        if takes == Some(false) {
            return Err(Error::Usage(format!(
                "{}: {base} takes no {what} through Converse (the Bedrock User Guide's table of model features); {}",
                a.path.display(),
                if what == "images" {
                    "models that do: Claude 3, 3.5 Sonnet, 3.7 and 4, Nova Lite, Pro and Premier, Llama 3.2 11B and 90B, Llama 4"
                } else {
                    "choose another model"
                }
            )));
        }
    }
    Ok(())
}

/// The content blocks of the attachments, before the text of the message
/// (as the model guides advise for images).
pub(crate) fn blocks(attachments: &[Attachment]) -> Vec<ContentBlock> {
    attachments
        .iter()
        .filter_map(|a| match &a.kind {
            Kind::Image(format) => ImageBlock::builder()
                .format(format.clone())
                .source(ImageSource::Bytes(Blob::new(a.bytes.clone())))
                .build()
                .ok()
                .map(ContentBlock::Image),
            Kind::Document(format, name) => DocumentBlock::builder()
                .format(format.clone())
                .name(name)
                .source(DocumentSource::Bytes(Blob::new(a.bytes.clone())))
                .build()
                .ok()
                .map(ContentBlock::Document),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_are_what_converse_accepts_and_unique() {
        let taken = vec!["report".to_string()];
        assert_eq!(document_name(Path::new("a/report.pdf"), &taken), "report-2");
        assert_eq!(
            document_name(Path::new("Q3  results_v2.final.csv"), &[]),
            "Q3 results-v2-final"
        );
        assert_eq!(document_name(Path::new("/"), &[]), "document");
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(image_format(Path::new("x.JPG")), Some(ImageFormat::Jpeg));
        assert_eq!(image_format(Path::new("x.bmp")), None);
        assert_eq!(
            document_format(Path::new("notes.md")),
            Some(DocumentFormat::Md)
        );
        assert_eq!(document_format(Path::new("notes.rtf")), None);
    }
}
