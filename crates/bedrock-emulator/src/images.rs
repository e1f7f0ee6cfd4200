//! Image generation models through InvokeModel: Amazon Titan Image
//! Generator v1 and v2 and Nova Canvas (one body shape, `TEXT_IMAGE`),
//! Stable Diffusion XL (`text_prompts`), and Stability's Stable Image models
//! (`prompt` and `aspect_ratio`), each answering in its documented shape.
//!
//! The body's keys, types and ranges are checked from the catalogue
//! (`models.json`); what a JSON schema cannot say is checked here, from the
//! same pages of the Bedrock User Guide: the sizes each model takes, the
//! prompt lengths, the one image a Stability request makes.
//!
//! The pictures are small deterministic PNGs of the size asked for: a
//! colour and stripes derived from the prompt, the seed and the image's
//! place in the batch, so a test can decode them, check their size, and see
//! that another seed gives another picture.

use crate::catalogue::Body;
use base64::Engine as _;
use serde_json::{Value, json};

/// The sizes Titan Image Generator takes (width x height), from the
/// Titan Image Generator page of the Bedrock User Guide.
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

/// What a Stable Image model makes for each aspect ratio.
const ASPECT_SIZES: [(&str, u32, u32); 9] = [
    ("1:1", 1024, 1024),
    ("16:9", 1344, 768),
    ("21:9", 1536, 640),
    ("2:3", 832, 1248),
    ("3:2", 1248, 832),
    ("4:5", 896, 1120),
    ("5:4", 1120, 896),
    ("9:16", 768, 1344),
    ("9:21", 640, 1536),
];

fn refuse(message: impl Into<String>) -> String {
    message.into()
}

/// The InvokeModel reply of an image model to `body` (already checked
/// against the family's documented keys), or the ValidationException
/// message for what the model's rules refuse.
pub fn answer(family: Body, body: &Value) -> Result<Value, String> {
    match family {
        Body::TitanImage | Body::NovaCanvas => titan(family, body),
        Body::Sdxl => sdxl(body),
        _ => stable_image(body),
    }
}

fn titan(family: Body, body: &Value) -> Result<Value, String> {
    let task = body["taskType"].as_str().unwrap_or_default();
    if task != "TEXT_IMAGE" {
        return Err(refuse(format!(
            "taskType {task} is not served by the emulator; it makes TEXT_IMAGE only"
        )));
    }
    let params = &body["textToImageParams"];
    let text = params["text"].as_str().unwrap_or_default();
    let most = if family == Body::NovaCanvas {
        1024
    } else {
        512
    };
    if text.is_empty() || text.chars().count() > most {
        return Err(refuse(format!(
            "Malformed input request: #/textToImageParams/text: expected a prompt of 1 to {most} characters, found {}, please reformat your input and try again.",
            text.chars().count()
        )));
    }
    let config = &body["imageGenerationConfig"];
    let width = config["width"].as_u64().unwrap_or(1024) as u32;
    let height = config["height"].as_u64().unwrap_or(1024) as u32;
    if family == Body::NovaCanvas {
        canvas_size(width, height)?;
    } else if !TITAN_SIZES.contains(&(width, height)) {
        return Err(refuse(format!(
            "Malformed input request: #/imageGenerationConfig: the image size {width}x{height} is not supported, please reformat your input and try again."
        )));
    }
    let count = config["numberOfImages"].as_u64().unwrap_or(1);
    let seed = config["seed"].as_u64().unwrap_or(42);
    let images: Vec<String> = (0..count)
        .map(|i| encoded(&picture(text, seed, i, width, height)))
        .collect();
    Ok(json!({"images": images, "error": null}))
}

/// Nova Canvas: each side 320 to 4096 and a multiple of 16, an aspect
/// ratio between 1:4 and 4:1, and fewer than 4.2 million pixels.
fn canvas_size(width: u32, height: u32) -> Result<(), String> {
    let bad = |why: &str| {
        Err(refuse(format!(
            "Malformed input request: #/imageGenerationConfig: {width}x{height}: {why}, please reformat your input and try again."
        )))
    };
    if !(320..=4096).contains(&width) || !(320..=4096).contains(&height) {
        return bad("width and height must be between 320 and 4096");
    }
    if !width.is_multiple_of(16) || !height.is_multiple_of(16) {
        return bad("width and height must be divisible by 16");
    }
    if width > 4 * height || height > 4 * width {
        return bad("the aspect ratio must be between 1:4 and 4:1");
    }
    if u64::from(width) * u64::from(height) > 4_194_304 {
        return bad("the image must have fewer than 4,194,304 pixels");
    }
    Ok(())
}

fn sdxl(body: &Value) -> Result<Value, String> {
    let prompts = body["text_prompts"].as_array().cloned().unwrap_or_default();
    let text = prompts
        .iter()
        .filter(|p| p["weight"].as_f64().unwrap_or(1.0) >= 0.0)
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        return Err(refuse(
            "Malformed input request: #/text_prompts: a prompt with positive weight is required, please reformat your input and try again.",
        ));
    }
    let width = body["width"].as_u64().unwrap_or(1024) as u32;
    let height = body["height"].as_u64().unwrap_or(1024) as u32;
    if !SDXL_SIZES.contains(&(width, height)) {
        return Err(refuse(format!(
            "Malformed input request: the dimensions {width}x{height} are invalid for SDXL: allowed are 1024x1024, 1152x896, 1216x832, 1344x768, 1536x640, 640x1536, 768x1344, 832x1216, 896x1152, please reformat your input and try again."
        )));
    }
    let seed = body["seed"].as_u64().unwrap_or(0);
    Ok(json!({
        "result": "success",
        "artifacts": [{
            "seed": seed,
            "base64": encoded(&picture(&text, seed, 0, width, height)),
            "finishReason": "SUCCESS",
        }],
    }))
}

fn stable_image(body: &Value) -> Result<Value, String> {
    let text = body["prompt"].as_str().unwrap_or_default();
    if text.is_empty() {
        return Err(refuse(
            "Malformed input request: #/prompt: expected minLength: 1, actual: 0, please reformat your input and try again.",
        ));
    }
    let format = body["output_format"].as_str().unwrap_or("png");
    if format != "png" {
        return Err(refuse(format!(
            "output_format {format} is not served by the emulator; it makes png only"
        )));
    }
    let ratio = body["aspect_ratio"].as_str().unwrap_or("1:1");
    let (_, width, height) = ASPECT_SIZES
        .iter()
        .find(|(r, _, _)| *r == ratio)
        .copied()
        .unwrap_or(ASPECT_SIZES[0]);
    let seed = body["seed"].as_u64().unwrap_or(0);
    Ok(json!({
        "seeds": [seed],
        "finish_reasons": [null],
        "images": [encoded(&picture(text, seed, 0, width, height))],
    }))
}

fn encoded(png: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(png)
}

/// A PNG of `width` x `height`: a background colour from the prompt, seed
/// and index, with diagonal stripes in its complement.
pub fn picture(prompt: &str, seed: u64, index: u64, width: u32, height: u32) -> Vec<u8> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in prompt
        .bytes()
        .chain(seed.to_le_bytes())
        .chain(index.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let colour = [(h >> 8) as u8, (h >> 16) as u8, (h >> 24) as u8];
    let stripe = colour.map(|c| 255 - c);
    let period = 16 + (h >> 32) as u32 % 48;
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let on = (x + y) % period < period / 3;
            pixels.extend_from_slice(if on { &stripe } else { &colour });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&pixels);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf)
    }

    #[test]
    fn pictures_are_valid_pngs_of_the_size_asked() {
        let (w, h, a) = decode(&picture("a lighthouse", 7, 0, 512, 320));
        assert_eq!((w, h), (512, 320));
        let (_, _, b) = decode(&picture("a lighthouse", 8, 0, 512, 320));
        assert_ne!(a, b, "another seed, another picture");
        assert_eq!(a, decode(&picture("a lighthouse", 7, 0, 512, 320)).2);
    }

    #[test]
    fn sizes_follow_each_models_rules() {
        assert!(canvas_size(1024, 1024).is_ok());
        assert!(canvas_size(1000, 1024).unwrap_err().contains("16"));
        assert!(canvas_size(320, 2048).unwrap_err().contains("1:4"));
        assert!(canvas_size(4096, 4096).unwrap_err().contains("pixels"));
        let titan = |w: u32, h: u32| {
            answer(
                Body::TitanImage,
                &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
                        "imageGenerationConfig": {"width": w, "height": h, "numberOfImages": 2}}),
            )
        };
        assert_eq!(
            titan(512, 512).unwrap()["images"].as_array().unwrap().len(),
            2
        );
        assert!(titan(500, 500).is_err());
        let sdxl = |w: u32| {
            answer(
                Body::Sdxl,
                &json!({"text_prompts": [{"text": "x"}], "width": w, "height": 1024}),
            )
        };
        assert!(sdxl(1024).is_ok());
        assert!(sdxl(512).is_err());
    }
}
