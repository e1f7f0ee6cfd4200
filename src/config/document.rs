//! A properties file as lines, so that edits keep every other byte.
//!
//! `rust-ini` parses the text into sections and values; this module keeps the
//! lines themselves, with the position of every value, so that a value can be
//! replaced, added or removed while comments, blank lines, spacing, order and
//! line endings stay exactly as they were (rewriting through `rust-ini` would
//! drop comments). Both readings of the text must agree; a line they read
//! differently (quotes, escapes, continuations) is refused rather than edited
//! by guess.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::collections::hash_map;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One entry (`key = value`) of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// Index of its line in the document.
    pub index: usize,
    /// One-based line number, for messages.
    pub line: usize,
    /// Section name as written.
    pub section: String,
    /// Key as written.
    pub key: String,
    /// Value with surrounding whitespace removed.
    pub value: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Other,
    Section(String),
    Entry {
        key: String,
        /// Byte offset of the delimiter (`=` or `:`).
        delim: usize,
        /// Byte range of the trimmed value.
        value: (usize, usize),
    },
}

#[derive(Debug, Clone)]
struct Line {
    text: String,
    eol: String,
    kind: Kind,
}

/// Where each section and entry is, by lowercased name, so that looking one
/// up costs the same in a file of ten lines or of a million (a scan per
/// look-up made reading a large file quadratic).
#[derive(Debug, Clone, Default)]
struct Index {
    /// Lowercased section name to the index of its header line.
    sections: HashMap<String, usize>,
    /// (lowercased section, lowercased key) to the index of the entry's
    /// line and of its section's header line; the first entry when a name
    /// appears twice.
    entries: HashMap<(String, String), (usize, usize)>,
}

impl Index {
    /// Indexes `lines`, which are known to parse.
    fn build(lines: &[Line]) -> Index {
        let mut index = Index::default();
        let mut header = None;
        for (i, line) in lines.iter().enumerate() {
            match &line.kind {
                Kind::Section(name) => {
                    index.sections.entry(name.to_ascii_lowercase()).or_insert(i);
                    header = Some((i, name.to_ascii_lowercase()));
                }
                Kind::Entry { key, .. } => {
                    if let Some((h, section)) = &header {
                        index
                            .entries
                            .entry((section.clone(), key.to_ascii_lowercase()))
                            .or_insert((i, *h));
                    }
                }
                Kind::Other => {}
            }
        }
        index
    }
}

/// A parsed properties file that can be edited in place and written back.
#[derive(Clone)]
pub struct Document {
    path: PathBuf,
    bom: bool,
    lines: Vec<Line>,
    /// Built while parsing, dropped by edits that move lines, and rebuilt
    /// on the next look-up.
    index: OnceLock<Index>,
}

/// The state of a parse: the lines so far, their index, the current
/// section, and the first duplicate key (reported once every line has
/// parsed, so that a syntax error later in the file is not hidden by it).
struct Parser<'a> {
    path: &'a Path,
    lines: Vec<Line>,
    index: Index,
    /// The current section: its header's index and lowercased name.
    header: Option<(usize, String)>,
    duplicate: Option<Error>,
}

impl Parser<'_> {
    fn syntax(&self, line: usize, message: &str) -> Error {
        Error::Syntax {
            path: self.path.to_path_buf(),
            line,
            message: message.to_string(),
        }
    }

    /// What line `n` (0-based) is.
    fn line(&mut self, n: usize, text: &str) -> Result<Kind> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            Ok(Kind::Other)
        } else if let Some(rest) = trimmed.strip_prefix('[') {
            self.section(n, rest)
        } else {
            self.entry(n, text)
        }
    }

    /// A `[section]` header; a section may appear once.
    fn section(&mut self, n: usize, rest: &str) -> Result<Kind> {
        let name = rest
            .strip_suffix(']')
            .ok_or_else(|| self.syntax(n + 1, "a section header must end with ']'"))?
            .trim()
            .to_string();
        let lower = name.to_ascii_lowercase();
        if let Some(first) = self.index.sections.get(&lower) {
            return Err(self.syntax(
                n + 1,
                &format!(
                    "section [{}] appears twice (first on line {})",
                    shown_name(&name),
                    first + 1
                ),
            ));
        }
        self.index.sections.insert(lower.clone(), n);
        self.header = Some((n, lower));
        Ok(Kind::Section(name))
    }

    /// A `key = value` (or `key: value`) line inside a section.
    fn entry(&mut self, n: usize, text: &str) -> Result<Kind> {
        let number = n + 1;
        if text.starts_with([' ', '\t']) {
            return Err(self.syntax(
                number,
                "indented line: values that continue over several lines are not supported",
            ));
        }
        let delim = text.find(['=', ':']).ok_or_else(|| {
            self.syntax(number, "expected 'key = value', a [section] or a comment")
        })?;
        let key = text[..delim].trim().to_string();
        if key.is_empty() {
            return Err(self.syntax(number, "missing key before '='"));
        }
        let Some((section_at, section)) = &self.header else {
            return Err(self.syntax(
                number,
                "key outside any section; the file must start with a [section] header such as [default]",
            ));
        };
        match self
            .index
            .entries
            .entry((section.clone(), key.to_ascii_lowercase()))
        {
            hash_map::Entry::Occupied(first) => {
                if self.duplicate.is_none() {
                    self.duplicate = Some(duplicate_key(
                        self.path,
                        &self.lines,
                        *section_at,
                        number,
                        &key,
                        first.get().0 + 1,
                    ));
                }
            }
            hash_map::Entry::Vacant(slot) => {
                slot.insert((n, *section_at));
            }
        }
        let after = &text[delim + 1..];
        let start = delim + 1 + (after.len() - after.trim_start().len());
        Ok(Kind::Entry {
            key,
            delim,
            value: (start, start + after.trim().len()),
        })
    }
}

/// Where and what, never the value: a plaintext file's values are secrets.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Entry(line {}: [{}] {} = ({} characters))",
            self.line,
            shown_name(&self.section),
            shown_name(&self.key),
            self.value.chars().count()
        )
    }
}

/// The file and its size only: its lines may hold secrets in clear text.
impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Document({}, {} lines)",
            self.path.display(),
            self.lines.len()
        )
    }
}

impl Document {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Document> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            Error::Syntax {
                path: path.to_path_buf(),
                line,
                message: "not valid UTF-8".into(),
            }
        })?;
        Document::parse(path, &text)
    }

    /// Parses `text`, which came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Document> {
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut parser = Parser {
            path,
            lines: Vec::new(),
            index: Index::default(),
            header: None,
            duplicate: None,
        };
        for (n, (text, eol)) in split_lines(body).into_iter().enumerate() {
            let kind = parser.line(n, text)?;
            parser.lines.push(Line {
                text: text.to_string(),
                eol: eol.to_string(),
                kind,
            });
        }
        if let Some(e) = parser.duplicate {
            return Err(e);
        }
        let doc = Document {
            path: path.to_path_buf(),
            bom,
            lines: parser.lines,
            index: OnceLock::from(parser.index),
        };
        doc.check_against_rust_ini(body)?;
        Ok(doc)
    }

    /// The file this document came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry in document order.
    pub fn entries(&self) -> Vec<Entry> {
        let mut section = String::new();
        let mut out = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            match &line.kind {
                Kind::Section(name) => section = name.clone(),
                Kind::Entry { key, value, .. } => out.push(Entry {
                    index,
                    line: index + 1,
                    section: section.clone(),
                    key: key.clone(),
                    value: line.text[value.0..value.1].to_string(),
                }),
                Kind::Other => {}
            }
        }
        out
    }

    /// The entry for `key` in `section`, names compared case-insensitively.
    pub fn get(&self, section: &str, key: &str) -> Option<Entry> {
        let &(index, header) = self
            .index()
            .entries
            .get(&(section.to_ascii_lowercase(), key.to_ascii_lowercase()))?;
        let (Kind::Section(section), Kind::Entry { key, value, .. }) =
            (&self.lines[header].kind, &self.lines[index].kind)
        else {
            unreachable!("the index points at a header and an entry");
        };
        Some(Entry {
            index,
            line: index + 1,
            section: section.clone(),
            key: key.clone(),
            value: self.lines[index].text[value.0..value.1].to_string(),
        })
    }

    /// Whether the document has a section of that name.
    pub fn has_section(&self, section: &str) -> bool {
        self.section_line(section).is_some()
    }

    /// The names of all sections, in order.
    pub fn sections(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| match &l.kind {
                Kind::Section(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Replaces the value of the entry on line `index`, keeping the key, the
    /// delimiter and the spacing around it.
    pub fn set_value(&mut self, index: usize, value: &str) {
        let line = &mut self.lines[index];
        let Kind::Entry {
            key,
            delim,
            value: (start, end),
        } = &line.kind
        else {
            panic!("set_value on a line that is not an entry");
        };
        let (key, delim, start, end) = (key.clone(), *delim, *start, *end);
        let (text, new_start) = if start == end && start >= line.text.trim_end().len() {
            // Empty value: write after the delimiter, spaced like the key side.
            let head = line.text[..=delim].to_string();
            let spaced = line.text[..delim].ends_with([' ', '\t']);
            let sep = if spaced && !value.is_empty() { " " } else { "" };
            let start = head.len() + sep.len();
            (format!("{head}{sep}{value}"), start)
        } else {
            let mut text = line.text.clone();
            text.replace_range(start..end, value);
            (text, start)
        };
        line.text = text;
        line.kind = Kind::Entry {
            key,
            delim,
            value: (new_start, new_start + value.len()),
        };
    }

    /// Adds `key = value` at the end of `section`, after its last entry, in
    /// the spacing style the file already uses. The section must exist.
    pub fn insert(&mut self, section: &str, key: &str, value: &str) {
        let header = self
            .section_line(section)
            .expect("insert into an existing section");
        let mut at = header + 1;
        for i in header + 1..self.lines.len() {
            match self.lines[i].kind {
                Kind::Section(_) => break,
                Kind::Entry { .. } => at = i + 1,
                Kind::Other => {}
            }
        }
        let text = format!("{key}{}{value}", self.separator_style());
        self.insert_line(at, text);
    }

    /// Removes the line at `index`.
    pub fn remove(&mut self, index: usize) {
        self.lines.remove(index);
        self.index = OnceLock::new();
    }

    /// Appends a section with comment lines and entries at the end of the file,
    /// after a blank line.
    pub fn append_section(&mut self, name: &str, comments: &[&str], entries: &[(&str, &str)]) {
        let eol = self.dominant_eol();
        if let Some(last) = self.lines.last_mut()
            && last.eol.is_empty()
        {
            last.eol = eol.to_string();
        }
        if self.lines.last().is_some_and(|l| !l.text.trim().is_empty()) {
            self.push_line(String::new());
        }
        self.push_line(format!("[{name}]"));
        for comment in comments {
            self.push_line(format!("# {comment}"));
        }
        let sep = self.separator_style();
        for (key, value) in entries {
            self.push_line(format!("{key}{sep}{value}"));
        }
    }

    /// Removes a section: its header and every line up to the next section,
    /// and blank lines just before it.
    pub fn remove_section(&mut self, section: &str) {
        let Some(header) = self.section_line(section) else {
            return;
        };
        let end = (header + 1..self.lines.len())
            .find(|&i| matches!(self.lines[i].kind, Kind::Section(_)))
            .unwrap_or(self.lines.len());
        let mut start = header;
        while start > 0 && self.lines[start - 1].text.trim().is_empty() {
            start -= 1;
        }
        self.lines.drain(start..end);
        self.index = OnceLock::new();
    }

    /// The file's text, byte for byte as read apart from the edits made.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.bom {
            out.push('\u{feff}');
        }
        for line in &self.lines {
            out.push_str(&line.text);
            out.push_str(&line.eol);
        }
        out
    }

    fn section_line(&self, section: &str) -> Option<usize> {
        self.index()
            .sections
            .get(&section.to_ascii_lowercase())
            .copied()
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(&self.lines))
    }

    fn insert_line(&mut self, at: usize, text: String) {
        let eol = self.dominant_eol();
        let mut new_eol = eol.to_string();
        if at == self.lines.len()
            && let Some(last) = self.lines.last_mut()
            && last.eol.is_empty()
        {
            // Keep a file without a final newline that way.
            last.eol = eol.to_string();
            new_eol = String::new();
        }
        let kind = Document::parse(&self.path, &format!("[s]\n{text}"))
            .expect("generated line parses")
            .lines
            .pop()
            .expect("one line")
            .kind;
        self.lines.insert(
            at,
            Line {
                text,
                eol: new_eol,
                kind,
            },
        );
        self.index = OnceLock::new();
    }

    fn push_line(&mut self, text: String) {
        let at = self.lines.len();
        self.insert_line(at, text);
        let eol = self.dominant_eol().to_string();
        if let Some(last) = self.lines.last_mut() {
            last.eol = eol;
        }
    }

    fn dominant_eol(&self) -> &'static str {
        let crlf = self.lines.iter().filter(|l| l.eol == "\r\n").count();
        let lf = self.lines.iter().filter(|l| l.eol == "\n").count();
        if crlf > lf { "\r\n" } else { "\n" }
    }

    fn separator_style(&self) -> &'static str {
        let spaced = self.lines.iter().find_map(|l| match &l.kind {
            Kind::Entry { delim, .. } => Some(l.text[..*delim].ends_with([' ', '\t'])),
            _ => None,
        });
        if spaced.unwrap_or(true) { " = " } else { "=" }
    }

    /// Parses the text with `rust-ini` too and refuses any line the two
    /// readings disagree on, so an edit never rests on a misreading.
    fn check_against_rust_ini(&self, body: &str) -> Result<()> {
        let opt = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: false,
            enabled_preserve_key_leading_whitespace: false,
        };
        let parsed = ini::Ini::load_from_str_opt(body, opt).map_err(|e| Error::Syntax {
            path: self.path.clone(),
            line: e.line + 1,
            message: "cannot be parsed as INI".into(),
        })?;
        let theirs: Vec<(String, String, String)> = parsed
            .iter()
            .flat_map(|(section, props)| {
                let section = section.unwrap_or("").to_string();
                props
                    .iter()
                    .map(move |(k, v)| (section.clone(), k.to_string(), v.to_string()))
            })
            .collect();
        let ours = self.entries();
        for (i, entry) in ours.iter().enumerate() {
            let agrees = theirs.get(i).is_some_and(|(s, k, v)| {
                s.eq_ignore_ascii_case(&entry.section)
                    && k.eq_ignore_ascii_case(&entry.key)
                    && *v == entry.value
            });
            if !agrees {
                return Err(Error::Syntax {
                    path: self.path.clone(),
                    line: entry.line,
                    message: "this line uses INI syntax that cannot be kept safely (a quote, escape or trailing backslash); write the value plainly".into(),
                });
            }
        }
        if theirs.len() != ours.len() {
            return Err(Error::Syntax {
                path: self.path.clone(),
                line: self.lines.len(),
                message: "the file has entries this tool cannot locate; write each as 'key = value' on one line".into(),
            });
        }
        Ok(())
    }
}

/// The error for a key found twice in a section.
fn duplicate_key(
    path: &Path,
    lines: &[Line],
    header: usize,
    line: usize,
    key: &str,
    first: usize,
) -> Error {
    let section = match &lines[header].kind {
        Kind::Section(name) => shown_name(name),
        _ => unreachable!("the header of a section"),
    };
    Error::Invalid {
        at: crate::error::Location {
            file: path.to_path_buf(),
            line: Some(line),
            section,
            key: Some(shown_name(key)),
        },
        message: format!("key appears twice in this section (first on line {first}); keep one"),
    }
}

/// A section or key name as messages show it: as written when it looks like
/// a name, else only its length. A secret pasted on a line of its own
/// becomes a "key" when it holds `=` or `:` (a Fernet key ends in `=`), and
/// messages must never repeat a secret.
pub(crate) fn shown_name(name: &str) -> String {
    let plain = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.- ".contains(c));
    if plain {
        name.to_string()
    } else {
        format!(
            "(a name of {} characters, not shown: it does not look like a name and may be a pasted secret)",
            name.chars().count()
        )
    }
}

/// Splits text into lines with their line endings kept apart.
fn split_lines(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                let (line, eol) = if i > 0 && rest.as_bytes()[i - 1] == b'\r' {
                    (&rest[..i - 1], &rest[i - 1..=i])
                } else {
                    (&rest[..i], &rest[i..=i])
                };
                out.push((line, eol));
                rest = &rest[i + 1..];
            }
            None => {
                out.push((rest, ""));
                rest = "";
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(Path::new("t.properties"), text).unwrap()
    }

    fn err(text: &str) -> String {
        Document::parse(Path::new("t.properties"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn renders_byte_for_byte() {
        let text = "# head\r\n[default]\r\nA = 1\r\n\r\n; c\r\nB=two words \r\n[models]\nX : y";
        assert_eq!(doc(text).render(), text);
        let bom = "\u{feff}[default]\nA=1\n";
        assert_eq!(doc(bom).render(), bom);
    }

    #[test]
    fn set_value_keeps_spacing_and_comments() {
        let mut d = doc("[default]\n# keep\nAccessKey =   old  \nB=\nC =\n");
        let e = d.get("default", "accesskey").unwrap();
        d.set_value(e.index, "new");
        let b = d.get("default", "B").unwrap();
        d.set_value(b.index, "v");
        let c = d.get("default", "C").unwrap();
        d.set_value(c.index, "w");
        assert_eq!(
            d.render(),
            "[default]\n# keep\nAccessKey =   new  \nB=v\nC = w\n"
        );
        assert_eq!(d.get("default", "c").unwrap().value, "w");
    }

    #[test]
    fn insert_goes_after_last_entry_of_section() {
        let mut d = doc("[default]\nA = 1\n\n[models]\nM = m\n");
        d.insert("default", "B", "2");
        assert_eq!(d.render(), "[default]\nA = 1\nB = 2\n\n[models]\nM = m\n");
        let mut d = doc("[default]\nA=1");
        d.insert("default", "B", "2");
        assert_eq!(d.render(), "[default]\nA=1\nB=2");
    }

    #[test]
    fn append_and_remove_section() {
        let original = "[default]\nA = 1";
        let mut d = doc(original);
        d.append_section("encryption", &["note"], &[("MAC", "m")]);
        assert_eq!(
            d.render(),
            "[default]\nA = 1\n\n[encryption]\n# note\nMAC = m\n"
        );
        d.remove_section("Encryption");
        assert_eq!(d.render(), "[default]\nA = 1\n");
    }

    #[test]
    fn lookups_follow_edits_that_move_lines() {
        let mut d = doc("[default]\nA = 1\nB = 2\n\n[models]\nM = m\n");
        assert_eq!(d.get("DEFAULT", "b").unwrap().index, 2);
        d.remove(1);
        let b = d.get("default", "B").unwrap();
        assert_eq!((b.index, b.line, b.value.as_str()), (1, 2, "2"));
        assert!(d.get("default", "A").is_none());
        d.insert("default", "C", "3");
        assert_eq!(d.get("default", "c").unwrap().index, 2);
        assert_eq!(d.get("models", "M").unwrap().index, 5);
        d.append_section("encryption", &["note"], &[("MAC", "x")]);
        let mac = d.get("Encryption", "mac").unwrap();
        assert_eq!(
            (mac.section.as_str(), mac.value.as_str()),
            ("encryption", "x")
        );
        d.set_value(mac.index, "y");
        assert_eq!(d.get("encryption", "MAC").unwrap().value, "y");
        d.remove_section("encryption");
        assert!(!d.has_section("encryption"));
        assert!(d.get("encryption", "MAC").is_none());
        assert_eq!(d.get("models", "m").unwrap().section, "models");
    }

    #[test]
    fn names_that_may_be_secrets_are_not_shown() {
        // A Fernet key pasted alone on a line parses as a key (it ends in '=').
        let e = err(
            "[default]\nc2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seS0xMjM=\nc2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seS0xMjM=\n",
        );
        assert!(
            e.contains(":3: [default] (a name of 43 characters, not shown"),
            "{e}"
        );
        assert!(!e.contains("c2VjcmV0"), "{e}");
        assert_eq!(shown_name("Claude-3 Haiku"), "Claude-3 Haiku");
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let d = doc("[default]\nSecretKey = wJalrXUtnFEMI/K7MDENG\n");
        let e = d.get("default", "SecretKey").unwrap();
        for shown in [format!("{d:?}"), format!("{e:?}")] {
            assert!(!shown.contains("wJalr"), "{shown}");
        }
        assert_eq!(
            format!("{e:?}"),
            "Entry(line 2: [default] SecretKey = (21 characters))"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert!(
            err("[default]\nA = 1\nA = 2\n")
                .contains("t.properties:3: [default] A: key appears twice")
        );
        assert!(err("[default]\naccesskey = 1\nAccessKey = 2\n").contains("appears twice"));
        assert!(err("A = 1\n").contains("t.properties:1: key outside any section"));
        assert!(err("[default\n").contains(":1: a section header must end"));
        assert!(err("[default]\njunk\n").contains(":2: expected 'key = value'"));
        assert!(err("[default]\n[DEFAULT]\n").contains(":2: section [DEFAULT] appears twice"));
        assert!(err("[default]\nA = 1\n  more\n").contains(":3: indented line"));
    }
}
