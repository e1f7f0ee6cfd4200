//! `invoke image`: pictures from a prompt through the same credentials and
//! endpoint as a call, with Amazon Titan Image Generator v1/v2, Nova Canvas,
//! Stable Diffusion XL and Stability's Stable Image models, each with its
//! documented body and size rules, written as PNG files.
//!
//! Everything that can be checked is checked before any call: the model's
//! family, the size (or aspect ratio) it takes, the seed's and guidance
//! scale's ranges, the prompt's length, and that no file would be
//! overwritten without `--force`. A reply is believed only when each image
//! decodes from base64 and is a PNG of the size asked for.

use super::Options;
use crate::error::{Error, ExitCode, Result};
use crate::fsutil::{Existing, write_private};
use crate::output::Format;
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The model used when none is named.
pub(crate) const DEFAULT_MODEL: &str = "amazon.nova-canvas-v1:0";

/// What `invoke image` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageOptions {
    /// What to draw (`-` reads standard input).
    pub(crate) prompt: String,
    /// `--negative`: what to keep out of the picture.
    pub(crate) negative: Option<String>,
    /// `--size WxH`.
    pub(crate) size: Option<Size>,
    /// `--aspect-ratio` (Stable Image models).
    pub(crate) aspect_ratio: Option<String>,
    /// `--seed`.
    pub(crate) seed: Option<u64>,
    /// `--count`.
    pub(crate) count: u32,
    /// `--quality` (Titan, Nova Canvas).
    pub(crate) quality: Option<String>,
    /// `--cfg-scale`: how closely to follow the prompt.
    pub(crate) cfg_scale: Option<f64>,
    /// `--out`: the file, or with `--count` above 1 the pattern
    /// (`image.png` makes `image-1.png`, `image-2.png`, ...).
    pub(crate) out: PathBuf,
    /// `--force`: replace existing files.
    pub(crate) force: bool,
}

/// A picture's size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("expected WIDTHxHEIGHT, as 1024x1024, not {s:?}"))?;
        let n = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected WIDTHxHEIGHT in pixels, as 1024x1024, not {s:?}"))
        };
        Ok(Size {
            width: n(w)?,
            height: n(h)?,
        })
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A family of image models, by its body and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Titan Image Generator v1 and v2.
    Titan,
    /// Nova Canvas: Titan's body, its own sizes and seed range.
    Canvas,
    /// Stable Diffusion XL 1.0.
    Sdxl,
    /// Stable Image Core and Ultra, SD3 and SD3.5 Large.
    StableImage,
}

fn family(model: &str) -> Option<Family> {
    let base = super::families::base_model_id(model);
    if base.starts_with("amazon.titan-image-generator-") {
        Some(Family::Titan)
    } else if base.starts_with("amazon.nova-canvas-") {
        Some(Family::Canvas)
    } else if base.starts_with("stability.stable-diffusion-xl") {
        Some(Family::Sdxl)
    } else if base.starts_with("stability.sd3") || base.starts_with("stability.stable-image-") {
        Some(Family::StableImage)
    } else {
        None
    }
}

/// The sizes Titan Image Generator takes (Bedrock User Guide, Titan Image
/// Generator request parameters).
const TITAN_SIZES: [(u32, u32); 25] = [
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

/// The sizes Stable Diffusion XL 1.0 takes on Bedrock.
const SDXL_SIZES: [(u32, u32); 9] = [
    (1024, 1024),
    (1152, 896),
    (1216, 832),
    (1344, 768),
    (1536, 640),
    (640, 1536),
    (768, 1344),
    (832, 1216),
    (896, 1152),
];

/// The aspect ratios the Stable Image models take.
const ASPECT_RATIOS: [&str; 9] = [
    "16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21",
];

impl Family {
    /// The most characters a prompt may have.
    fn prompt_limit(self) -> usize {
        match self {
            Family::Titan => 512,
            Family::Canvas => 1024,
            Family::Sdxl | Family::StableImage => 10_000,
        }
    }

    /// The largest seed.
    fn max_seed(self) -> u64 {
        match self {
            Family::Titan => 2_147_483_646,
            Family::Canvas => 858_993_459,
            Family::Sdxl => 4_294_967_295,
            Family::StableImage => 4_294_967_294,
        }
    }

    /// Images one request makes at most; more take more requests.
    fn per_request(self) -> u32 {
        match self {
            Family::Titan | Family::Canvas => 5,
            Family::Sdxl | Family::StableImage => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Titan => "Titan Image Generator",
            Family::Canvas => "Nova Canvas",
            Family::Sdxl => "Stable Diffusion XL",
            Family::StableImage => "Stability's Stable Image models",
        }
    }
}

/// Checks the size against the family's rules, giving the size it will be.
fn check_size(family: Family, size: Option<Size>) -> Result<Option<Size>> {
    let usage = |m: String| Err(Error::Usage(m));
    let list = |sizes: &[(u32, u32)]| {
        sizes
            .iter()
            .map(|(w, h)| format!("{w}x{h}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let default = Size {
        width: 1024,
        height: 1024,
    };
    match family {
        Family::StableImage => match size {
            Some(s) => usage(format!(
                "--size {s}: {} take --aspect-ratio ({}) instead of a size",
                family.name(),
                ASPECT_RATIOS.join(", ")
            )),
            None => Ok(None),
        },
        Family::Titan | Family::Sdxl => {
            let s = size.unwrap_or(default);
            let sizes: &[(u32, u32)] = if family == Family::Titan {
                &TITAN_SIZES
            } else {
                &SDXL_SIZES
            };
            if sizes.contains(&(s.width, s.height)) {
                Ok(Some(s))
            } else {
                usage(format!(
                    "--size {s}: {} takes {}",
                    family.name(),
                    list(sizes)
                ))
            }
        }
        Family::Canvas => {
            let s = size.unwrap_or(default);
            let (w, h) = (s.width, s.height);
            let why = if !(320..=4096).contains(&w) || !(320..=4096).contains(&h) {
                Some("each side from 320 to 4096 pixels")
            } else if !w.is_multiple_of(16) || !h.is_multiple_of(16) {
                Some("each side a multiple of 16")
            } else if w > 4 * h || h > 4 * w {
                Some("an aspect ratio from 1:4 to 4:1")
            } else if u64::from(w) * u64::from(h) > 4_194_304 {
                Some("at most 4,194,304 pixels (2048x2048)")
            } else {
                None
            };
            match why {
                Some(why) => usage(format!("--size {s}: Nova Canvas takes {why}")),
                None => Ok(Some(s)),
            }
        }
    }
}

/// Checks every option against the model's family, before any call.
fn check(o: &ImageOptions, model: &str, family: Family) -> Result<Option<Size>> {
    let usage = |m: String| Err(Error::Usage(m));
    let chars = o.prompt.chars().count();
    if o.prompt.trim().is_empty() {
        return usage("invoke image: the prompt is empty: say what to draw".into());
    }
    if chars > family.prompt_limit() {
        return usage(format!(
            "invoke image: the prompt has {chars} characters; {} takes at most {}",
            family.name(),
            family.prompt_limit()
        ));
    }
    if o.count == 0 || o.count > 5 {
        return usage(format!("--count {}: expected 1 to 5", o.count));
    }
    if let Some(seed) = o.seed
        && seed > family.max_seed()
    {
        return usage(format!(
            "--seed {seed}: {} takes 0 to {}",
            family.name(),
            family.max_seed()
        ));
    }
    match (family, &o.aspect_ratio) {
        (Family::StableImage, Some(r)) if !ASPECT_RATIOS.contains(&r.as_str()) => {
            return usage(format!(
                "--aspect-ratio {r}: expected one of {}",
                ASPECT_RATIOS.join(", ")
            ));
        }
        (Family::StableImage, _) | (_, None) => {}
        (_, Some(r)) => {
            return usage(format!(
                "--aspect-ratio {r}: {model} takes --size WIDTHxHEIGHT instead"
            ));
        }
    }
    if let Some(q) = &o.quality {
        if !matches!(family, Family::Titan | Family::Canvas) {
            return usage(format!(
                "--quality: only Titan Image Generator and Nova Canvas take it, not {model}"
            ));
        }
        if q != "standard" && q != "premium" {
            return usage(format!("--quality {q}: expected standard or premium"));
        }
    }
    if let Some(c) = o.cfg_scale {
        let range = match family {
            Family::Titan | Family::Canvas => Some((1.1, 10.0)),
            Family::Sdxl => Some((0.0, 35.0)),
            Family::StableImage => None,
        };
        match range {
            None => {
                return usage(format!("--cfg-scale: {model} does not take it"));
            }
            Some((lo, hi)) if !(lo..=hi).contains(&c) => {
                return usage(format!(
                    "--cfg-scale {c}: {} takes {lo} to {hi}",
                    family.name()
                ));
            }
            Some(_) => {}
        }
    }
    check_size(family, o.size)
}

/// The files the pictures go to: `out` itself for one, else `out` with
/// `-1`, `-2`, ... before its extension.
fn paths(out: &Path, count: u32) -> Vec<PathBuf> {
    if count == 1 {
        return vec![out.to_path_buf()];
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let ext = out
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..=count)
        .map(|i| out.with_file_name(format!("{stem}-{i}{ext}")))
        .collect()
}

/// The request bodies: one for Titan and Nova Canvas (up to five images),
/// one per image for the Stability models (seeds counted up from `--seed`).
fn bodies(o: &ImageOptions, family: Family, size: Option<Size>) -> Vec<Value> {
    match family {
        Family::Titan | Family::Canvas => {
            let mut params = json!({"text": o.prompt});
            if let Some(n) = &o.negative {
                params["negativeText"] = n.as_str().into();
            }
            let mut config = json!({"numberOfImages": o.count});
            if let Some(s) = size {
                config["width"] = s.width.into();
                config["height"] = s.height.into();
            }
            if let Some(seed) = o.seed {
                config["seed"] = seed.into();
            }
            if let Some(q) = &o.quality {
                config["quality"] = q.as_str().into();
            }
            if let Some(c) = o.cfg_scale {
                config["cfgScale"] = c.into();
            }
            vec![json!({
                "taskType": "TEXT_IMAGE",
                "textToImageParams": params,
                "imageGenerationConfig": config,
            })]
        }
        Family::Sdxl => (0..o.count)
            .map(|i| {
                let mut prompts = vec![json!({"text": o.prompt, "weight": 1.0})];
                if let Some(n) = &o.negative {
                    prompts.push(json!({"text": n, "weight": -1.0}));
                }
                let mut b = json!({"text_prompts": prompts, "samples": 1});
                if let Some(s) = size {
                    b["width"] = s.width.into();
                    b["height"] = s.height.into();
                }
                if let Some(seed) = o.seed {
                    b["seed"] = (seed + u64::from(i)).min(family.max_seed()).into();
                }
                if let Some(c) = o.cfg_scale {
                    b["cfg_scale"] = c.into();
                }
                b
            })
            .collect(),
        Family::StableImage => (0..o.count)
            .map(|i| {
                let mut b =
                    json!({"prompt": o.prompt, "mode": "text-to-image", "output_format": "png"});
                if let Some(n) = &o.negative {
                    b["negative_prompt"] = n.as_str().into();
                }
                if let Some(r) = &o.aspect_ratio {
                    b["aspect_ratio"] = r.as_str().into();
                }
                if let Some(seed) = o.seed {
                    b["seed"] = (seed + u64::from(i)).min(family.max_seed()).into();
                }
                b
            })
            .collect(),
    }
}

/// The base64 pictures of a reply, or why there are none (an error the
/// model put in the reply, a content filter's finish reason).
fn pictures(family: Family, reply: &Value) -> std::result::Result<Vec<String>, String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match family {
        Family::Titan | Family::Canvas => {
            if let Some(e) = reply["error"].as_str() {
                return Err(e.to_string());
            }
            Ok(strings(&reply["images"]))
        }
        Family::Sdxl => {
            let artifacts = reply["artifacts"].as_array().cloned().unwrap_or_default();
            let mut out = Vec::new();
            for a in artifacts {
                match a["finishReason"].as_str() {
                    Some("SUCCESS") | None => {}
                    Some(other) => return Err(format!("finish reason {other}")),
                }
                if let Some(b) = a["base64"].as_str() {
                    out.push(b.to_string());
                }
            }
            Ok(out)
        }
        Family::StableImage => {
            if let Some(reason) = reply["finish_reasons"]
                .as_array()
                .and_then(|a| a.iter().find_map(Value::as_str))
            {
                return Err(format!("finish reason {reason}"));
            }
            Ok(strings(&reply["images"]))
        }
    }
}

/// The size of a PNG, read from its header; `None` for anything else.
fn png_size(bytes: &[u8]) -> Option<Size> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some(Size {
        width: be(&bytes[16..20]),
        height: be(&bytes[20..24]),
    })
}

/// The prompt: the argument, or standard input for `-`.
fn prompt_text(o: &ImageOptions) -> Result<String> {
    if o.prompt == "-" {
        return Ok(super::read_stdin()?.trim().to_string());
    }
    Ok(o.prompt.clone())
}

/// Runs `invoke image`.
pub(crate) async fn run(opts: &Options, o: &ImageOptions) -> Result<ExitCode> {
    let planned = super::json_model::plan(opts, DEFAULT_MODEL).await?;
    let model = planned.model.clone();
    let family = family(&model).ok_or_else(|| {
        Error::Usage(format!(
            "--model {model}: not an image generation model this tool knows: Titan Image Generator \
             (amazon.titan-image-generator-v1, amazon.titan-image-generator-v2:0), Nova Canvas \
             (amazon.nova-canvas-v1:0), Stable Diffusion XL (stability.stable-diffusion-xl-v1) or a \
             Stable Image model (stability.sd3-5-large-v1:0, stability.stable-image-core-v1:1, \
             stability.stable-image-ultra-v1:1)"
        ))
    })?;
    let o = ImageOptions {
        prompt: prompt_text(o)?,
        ..o.clone()
    };
    let size = check(&o, &model, family)?;
    let targets = paths(&o.out, o.count);
    for target in &targets {
        crate::fsutil::check_folder(target)?;
    }
    if !o.force
        && let Some(existing) = targets.iter().find(|p| p.exists())
    {
        return Err(Error::OutputExists {
            path: existing.clone(),
        });
    }
    let caller = planned.connect().await?;
    let mut encoded = Vec::new();
    for body in bodies(&o, family, size) {
        let got = pictures(family, &caller.call(&body).await?).map_err(|why| Error::NoAnswer {
            stop: why,
            raw: "(no image)".into(),
        })?;
        encoded.extend(got);
    }
    let no_answer = |why: String| Error::NoAnswer {
        stop: "(image)".into(),
        raw: why,
    };
    if encoded.len() != targets.len() {
        return Err(no_answer(format!(
            "{} images for the {} asked for",
            encoded.len(),
            targets.len()
        )));
    }
    let mut decoded = Vec::new();
    for (i, b64) in encoded.iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| no_answer(format!("image {} is not base64: {e}", i + 1)))?;
        let got =
            png_size(&bytes).ok_or_else(|| no_answer(format!("image {} is not a PNG", i + 1)))?;
        if let Some(want) = size
            && want != got
        {
            return Err(no_answer(format!(
                "image {} is {got}, not the {want} asked for",
                i + 1
            )));
        }
        decoded.push((bytes, got));
    }
    let existing = if o.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let mut written = Vec::new();
    for (i, ((bytes, got), path)) in decoded.iter().zip(&targets).enumerate() {
        write_private(path, bytes, existing)?;
        crate::output::note("wrote", &format!("{} ({got})", path.display()));
        let seed = o.seed.map(|s| {
            if family.per_request() == 1 {
                s + i as u64
            } else {
                s
            }
        });
        written.push(json!({
            "path": path.display().to_string(),
            "width": got.width,
            "height": got.height,
            "bytes": bytes.len(),
            "seed": seed,
        }));
    }
    if opts.format == Format::Json {
        let report = json!({
            "schema": crate::output::SCHEMA,
            "model": model,
            "images": written,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for path in &targets {
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ImageOptions {
        ImageOptions {
            prompt: "a lighthouse".into(),
            count: 1,
            out: "image.png".into(),
            ..ImageOptions::default()
        }
    }

    #[test]
    fn sizes_follow_each_familys_rules() {
        let s = |t: &str| Some(t.parse::<Size>().unwrap());
        assert!(check_size(Family::Titan, s("512x512")).is_ok());
        assert!(check_size(Family::Titan, s("500x500")).is_err());
        assert!(check_size(Family::Canvas, s("1280x720")).is_ok());
        assert!(check_size(Family::Canvas, s("1000x720")).is_err());
        assert!(check_size(Family::Canvas, s("320x2048")).is_err());
        assert!(check_size(Family::Canvas, s("4096x4096")).is_err());
        assert!(check_size(Family::Sdxl, s("1344x768")).is_ok());
        assert!(check_size(Family::Sdxl, s("512x512")).is_err());
        assert!(check_size(Family::StableImage, s("1024x1024")).is_err());
        assert_eq!(
            check_size(Family::Canvas, None).unwrap(),
            s("1024x1024"),
            "the documented default"
        );
        assert!("1024".parse::<Size>().is_err());
    }

    #[test]
    fn options_a_model_does_not_take_are_refused() {
        let o = ImageOptions {
            quality: Some("premium".into()),
            ..opts()
        };
        assert!(check(&o, "stability.stable-diffusion-xl-v1", Family::Sdxl).is_err());
        assert!(check(&o, "amazon.nova-canvas-v1:0", Family::Canvas).is_ok());
        let o = ImageOptions {
            seed: Some(900_000_000),
            ..opts()
        };
        assert!(check(&o, "amazon.nova-canvas-v1:0", Family::Canvas).is_err());
        assert!(check(&o, "amazon.titan-image-generator-v2:0", Family::Titan).is_ok());
        let o = ImageOptions {
            aspect_ratio: Some("16:9".into()),
            ..opts()
        };
        assert!(check(&o, "amazon.nova-canvas-v1:0", Family::Canvas).is_err());
        assert!(check(&o, "stability.sd3-5-large-v1:0", Family::StableImage).is_ok());
        let o = ImageOptions {
            prompt: "x".repeat(513),
            ..opts()
        };
        assert!(check(&o, "amazon.titan-image-generator-v1", Family::Titan).is_err());
    }

    #[test]
    fn bodies_and_paths() {
        let o = ImageOptions {
            count: 3,
            seed: Some(7),
            negative: Some("fog".into()),
            ..opts()
        };
        let titan = bodies(&o, Family::Titan, check_size(Family::Titan, None).unwrap());
        assert_eq!(titan.len(), 1);
        assert_eq!(titan[0]["imageGenerationConfig"]["numberOfImages"], 3);
        assert_eq!(titan[0]["textToImageParams"]["negativeText"], "fog");
        let sdxl = bodies(&o, Family::Sdxl, None);
        assert_eq!(sdxl.len(), 3);
        assert_eq!(sdxl[2]["seed"], 9);
        assert_eq!(sdxl[0]["text_prompts"][1]["weight"], -1.0);
        assert_eq!(
            paths(Path::new("out/pic.png"), 2),
            [
                PathBuf::from("out/pic-1.png"),
                PathBuf::from("out/pic-2.png")
            ]
        );
        assert_eq!(paths(Path::new("pic.png"), 1), [PathBuf::from("pic.png")]);
    }

    #[test]
    fn only_pngs_are_believed() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&384u32.to_be_bytes());
        assert_eq!(
            png_size(&png),
            Some(Size {
                width: 640,
                height: 384
            })
        );
        assert_eq!(png_size(b"GIF89a............................"), None);
        assert!(pictures(Family::Titan, &json!({"images": [], "error": "blocked"})).is_err());
        assert!(
            pictures(
                Family::Sdxl,
                &json!({"artifacts": [{"base64": "", "finishReason": "CONTENT_FILTERED"}]})
            )
            .is_err()
        );
    }
}
