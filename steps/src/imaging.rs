//! Image handling for ValidateImage: format detection from magic bytes, header-only dimension
//! checks (decompression bombs), decoding with limits, EXIF orientation, resize and JPEG encode.
//!
//! Metadata is stripped because the output is re-encoded from pixels: nothing of the upload's
//! EXIF/XMP/ICC travels into `normalized.jpg`.

use std::io::Cursor;

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader, RgbImage};

use crate::colour::{self, Pixels};
use crate::domain::ImageFormat;
use crate::error::StageError;

/// 50 MiB: the upload limit (also the presigned POST's `content-length-range`).
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// 50 megapixels: above this an image is refused before decoding (decompression bombs, memory).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Longest side accepted in the header (a 1×50M strip is no photo either).
pub const MAX_SIDE: u32 = 20_000;
/// Long edge of the normalized JPEG (Anthropic's advice for Claude vision).
pub const NORMALIZED_LONG_EDGE: u32 = 1568;
/// The Bedrock Converse image limit is 3.75 MB; the normalized JPEG stays below it.
pub const MAX_NORMALIZED_BYTES: u64 = 3_750_000;
/// Cap on any single allocation the decoders make.
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// The limits ValidateImage applies; `Default` gives the product's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_bytes: u64,
    pub max_pixels: u64,
    pub max_side: u32,
    pub long_edge: u32,
    pub max_output_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_bytes: MAX_UPLOAD_BYTES,
            max_pixels: MAX_PIXELS,
            max_side: MAX_SIDE,
            long_edge: NORMALIZED_LONG_EDGE,
            max_output_bytes: MAX_NORMALIZED_BYTES,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Format detection

/// Detect the format from the first bytes. JPEG, PNG and HEIC are accepted; other image formats
/// are `UnsupportedFormat`; anything else (text, empty, unknown bytes) is `InvalidImage`.
pub fn detect_format(bytes: &[u8]) -> Result<ImageFormat, StageError> {
    if bytes.is_empty() {
        return Err(StageError::InvalidImage("the file is empty".into()));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if let Some(kind) = iso_bmff_kind(bytes) {
        return match kind {
            BmffKind::Heic => Ok(ImageFormat::Heic),
            BmffKind::Avif => Err(unsupported("AVIF")),
            BmffKind::Other(brand) => Err(unsupported(&format!("ISO media file (brand {brand})"))),
        };
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Err(unsupported("GIF"));
    }
    if bytes.starts_with(b"BM") && bytes.len() >= 14 {
        return Err(unsupported("BMP"));
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Err(unsupported("TIFF"));
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Err(unsupported("WebP"));
    }
    if looks_like_svg(bytes) {
        return Err(unsupported("SVG"));
    }
    if looks_like_text(bytes) {
        return Err(StageError::InvalidImage(
            "the file is text, not an image".into(),
        ));
    }
    Err(StageError::InvalidImage(
        "the file is not a recognisable image".into(),
    ))
}

fn unsupported(what: &str) -> StageError {
    StageError::UnsupportedFormat(format!(
        "{what} is not accepted; upload a JPEG, PNG or HEIC photo"
    ))
}

enum BmffKind {
    Heic,
    Avif,
    Other(String),
}

/// Brands that mean an HEVC-coded HEIF image (or the generic HEIF brands).
const HEIC_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
];

/// An ISO-BMFF file starts with a `ftyp` box: size(4) "ftyp" major(4) minor(4) compatible(4·n).
fn iso_bmff_kind(bytes: &[u8]) -> Option<BmffKind> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let box_size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = box_size.clamp(16, 4096).min(bytes.len());
    let major = &bytes[8..12];
    let compatible: Vec<&[u8]> = if end > 16 {
        bytes[16..end].chunks_exact(4).collect()
    } else {
        Vec::new()
    };
    let has = |brand: &[u8]| major == brand || compatible.contains(&brand);
    // An AVIF file also carries mif1; the codec brand decides.
    if has(b"avif") || has(b"avis") {
        return Some(BmffKind::Avif);
    }
    if HEIC_BRANDS.iter().any(|b| has(&b[..])) {
        return Some(BmffKind::Heic);
    }
    Some(BmffKind::Other(String::from_utf8_lossy(major).into_owned()))
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    (trimmed.starts_with("<?xml")
        || trimmed.starts_with("<svg")
        || trimmed.starts_with("<!doctype svg"))
        && text.contains("<svg")
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    std::str::from_utf8(head).is_ok_and(|s| s.chars().all(|c| !c.is_control() || c.is_whitespace()))
}

// ---------------------------------------------------------------------------------------------
// Header checks

/// Width and height from the header only (no pixel decoding).
pub fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), StageError> {
    match format {
        ImageFormat::Jpeg | ImageFormat::Png => {
            ImageReader::with_format(Cursor::new(bytes), image_format(format))
                .into_dimensions()
                .map_err(|e| {
                    StageError::InvalidImage(format!(
                        "cannot read the {} header: {e}",
                        format.as_str()
                    ))
                })
        }
        ImageFormat::Heic => heic::dimensions(bytes),
    }
}

/// Refuse an image whose header announces more pixels than `limits` allow.
pub fn check_dimensions(width: u32, height: u32, limits: &ImageLimits) -> Result<(), StageError> {
    if width == 0 || height == 0 {
        return Err(StageError::InvalidImage(format!(
            "the image header says {width}×{height}"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width.max(height) > limits.max_side {
        return Err(StageError::ImageTooLarge(format!(
            "{width}×{height} is {:.1} megapixels; the limit is {:.0} megapixels and {} px per side",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6,
            limits.max_side
        )));
    }
    Ok(())
}

fn image_format(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg | ImageFormat::Heic => image::ImageFormat::Jpeg,
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decoded, upright RGB pixels.
pub struct Decoded {
    pub image: RgbImage,
    /// Size of the upload (before any reduced-size decoding and before orientation).
    pub original_width: u32,
    pub original_height: u32,
}

/// Decode `bytes` to upright RGB, already reduced where the codec can do it cheaply (JPEG DCT
/// scaling to at least `long_edge`). Dimensions must have been checked first.
pub fn decode_upright(
    bytes: &[u8],
    format: ImageFormat,
    long_edge: u32,
) -> Result<Decoded, StageError> {
    match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, long_edge),
        ImageFormat::Png => decode_png(bytes),
        ImageFormat::Heic => heic::decode(bytes),
    }
}

fn decode_jpeg(bytes: &[u8], long_edge: u32) -> Result<Decoded, StageError> {
    let corrupt = |e: jpeg_decoder::Error| StageError::InvalidImage(format!("corrupt JPEG: {e}"));
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(MAX_DECODE_ALLOC as usize);
    decoder.read_info().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| StageError::InvalidImage("JPEG without a frame header".into()))?;
    let (original_width, original_height) = (u32::from(info.width), u32::from(info.height));
    // Ask for the smallest DCT scale that still covers the target on the long side, so the final
    // resize always shrinks (never upsamples) and keeps its quality.
    let target = scaled_request(original_width, original_height, long_edge);
    let (w, h) = decoder.scale(target.0, target.1).map_err(corrupt)?;
    let pixels = decoder.decode().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| StageError::InvalidImage("JPEG without a frame header".into()))?;
    let pixels = jpeg_pixels(pixels, info.pixel_format, &JpegHeader::scan(bytes));
    let rgb = colour::to_srgb(pixels, decoder.icc_profile().as_deref());
    let mut image = RgbImage::from_raw(u32::from(w), u32::from(h), rgb).ok_or_else(|| {
        StageError::InvalidImage("JPEG decoded to fewer pixels than its header says".into())
    })?;
    if let Some(orientation) = decoder.exif_data().and_then(Orientation::from_exif_chunk) {
        image = orient(image, orientation);
    }
    Ok(Decoded {
        image,
        original_width,
        original_height,
    })
}

/// The size to request from the JPEG decoder's DCT scaling: the long edge at `long_edge`.
fn scaled_request(width: u32, height: u32, long_edge: u32) -> (u16, u16) {
    let long = width.max(height).max(1);
    if long <= long_edge {
        return (width.min(65535) as u16, height.min(65535) as u16);
    }
    let scale = f64::from(long_edge) / f64::from(long);
    let w = (f64::from(width) * scale).ceil().max(1.0);
    let h = (f64::from(height) * scale).ceil().max(1.0);
    (w.min(65535.0) as u16, h.min(65535.0) as u16)
}

/// The decoder's samples by colour model. For four components `jpeg-decoder` returns
/// `255 − stored` (it has already undone YCCK's YCC transform): with Adobe's marker the stored
/// samples were inverted, so that is the ink; without it (a plain CMYK writer) the ink is the
/// complement. Pillow and libjpeg-based viewers read them the same way.
fn jpeg_pixels(pixels: Vec<u8>, format: jpeg_decoder::PixelFormat, header: &JpegHeader) -> Pixels {
    match format {
        jpeg_decoder::PixelFormat::RGB24 => Pixels::Rgb(pixels),
        jpeg_decoder::PixelFormat::L8 => Pixels::Grey(pixels),
        // Lossless 9..16-bit grey: native-endian samples of `precision` bits.
        jpeg_decoder::PixelFormat::L16 => {
            let max = (1u32 << header.precision.clamp(9, 16)) - 1;
            Pixels::Grey(
                pixels
                    .chunks_exact(2)
                    .map(|c| {
                        (u32::from(u16::from_ne_bytes([c[0], c[1]])).min(max) * 255 / max) as u8
                    })
                    .collect(),
            )
        }
        jpeg_decoder::PixelFormat::CMYK32 if header.adobe => Pixels::Cmyk(pixels),
        jpeg_decoder::PixelFormat::CMYK32 => Pixels::Cmyk(pixels.iter().map(|v| 255 - v).collect()),
    }
}

/// What `jpeg-decoder` does not tell: whether Adobe's APP14 marker is present (then CMYK/YCCK
/// samples are stored inverted, Photoshop's convention that every other writer copied) and the
/// frame's sample precision.
struct JpegHeader {
    adobe: bool,
    precision: u8,
}

impl JpegHeader {
    /// Walks the marker segments up to the first scan (never into entropy-coded data).
    fn scan(bytes: &[u8]) -> JpegHeader {
        let mut header = JpegHeader {
            adobe: false,
            precision: 8,
        };
        let mut at = 2; // after SOI
        while at + 4 <= bytes.len() && bytes[at] == 0xFF {
            let marker = bytes[at + 1];
            if marker == 0xFF {
                at += 1; // a fill byte
                continue;
            }
            if marker == 0xDA || marker == 0xD9 {
                break; // start of scan / end of image
            }
            let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            let payload = bytes.get(at + 4..at + 2 + length).unwrap_or_default();
            match marker {
                0xEE if payload.starts_with(b"Adobe") => header.adobe = true,
                // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision is the first byte.
                0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    header.precision = payload.first().copied().unwrap_or(8);
                }
                _ => {}
            }
            at += 2 + length;
        }
        header
    }
}

fn decode_png(bytes: &[u8]) -> Result<Decoded, StageError> {
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => {
            StageError::ImageTooLarge(format!("PNG exceeds the decoder's memory limit: {l}"))
        }
        other => StageError::InvalidImage(format!("corrupt PNG: {other}")),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // A broken iCCP chunk only costs the colour management, not the photo.
    let icc = decoder.icc_profile().ok().flatten();
    let (original_width, original_height) = decoder.dimensions();
    let dynamic = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let image = orient(png_to_srgb(dynamic, icc.as_deref())?, orientation);
    Ok(Decoded {
        image,
        original_width,
        original_height,
    })
}

/// Any PNG (1/2/4/8/16-bit, grey, grey+alpha, palette, RGB(A), interlaced: the `png` crate has
/// expanded it to 8 or 16 bits per sample) as 8-bit sRGB: alpha flattened on white, then the
/// iCCP profile applied.
fn png_to_srgb(image: DynamicImage, icc: Option<&[u8]>) -> Result<RgbImage, StageError> {
    let grey = !image.color().has_color();
    let (w, h) = (image.width(), image.height());
    // Over white: a transparent PNG should not turn black.
    let flat = if image.color().has_alpha() {
        flatten_rgba(image.to_rgba8().as_raw())
    } else {
        image.to_rgb8().into_raw()
    };
    let pixels = if grey {
        Pixels::Grey(flat.chunks_exact(3).map(|p| p[0]).collect())
    } else {
        Pixels::Rgb(flat)
    };
    RgbImage::from_raw(w, h, colour::to_srgb(pixels, icc))
        .ok_or_else(|| StageError::Internal("colour conversion changed the pixel count".into()))
}

/// `R G B A` samples to `R G B` over a white background.
fn flatten_rgba(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u16::from(p[3]);
            [p[0], p[1], p[2]].map(|c| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8)
        })
        .collect()
}

fn orient(image: RgbImage, orientation: Orientation) -> RgbImage {
    if orientation == Orientation::NoTransforms {
        return image;
    }
    let mut dynamic = DynamicImage::ImageRgb8(image);
    dynamic.apply_orientation(orientation);
    dynamic.into_rgb8()
}

// ---------------------------------------------------------------------------------------------
// Resize and encode

/// Shrink so the long edge is at most `long_edge` (never enlarges), with a Lanczos3 filter.
pub fn fit_long_edge(image: RgbImage, long_edge: u32) -> Result<RgbImage, StageError> {
    let (w, h) = image.dimensions();
    let long = w.max(h);
    if long <= long_edge {
        return Ok(image);
    }
    let scale = f64::from(long_edge) / f64::from(long);
    let (dw, dh) = (
        ((f64::from(w) * scale).round() as u32).clamp(1, long_edge),
        ((f64::from(h) * scale).round() as u32).clamp(1, long_edge),
    );
    resize_rgb(image, dw, dh)
}

/// Resize RGB8 pixels to exactly `width`×`height` with Lanczos3.
pub fn resize_rgb(image: RgbImage, width: u32, height: u32) -> Result<RgbImage, StageError> {
    let (w, h) = image.dimensions();
    let src = FirImage::from_vec_u8(w, h, image.into_raw(), PixelType::U8x3)
        .map_err(|e| StageError::Internal(format!("resize source: {e}")))?;
    let mut dst = FirImage::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| StageError::Internal(format!("resize: {e}")))?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| StageError::Internal("resize produced a short buffer".into()))
}

/// Encode as baseline JPEG, lowering the quality until it fits `max_bytes`.
pub fn encode_jpeg(image: &RgbImage, max_bytes: u64) -> Result<Vec<u8>, StageError> {
    for quality in [88u8, 80, 70, 60, 50] {
        let mut out = Vec::with_capacity(512 * 1024);
        JpegEncoder::new_with_quality(&mut out, quality)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .map_err(|e| StageError::Internal(format!("JPEG encode: {e}")))?;
        if (out.len() as u64) < max_bytes {
            return Ok(out);
        }
    }
    Err(StageError::ImageTooLarge(format!(
        "the normalized JPEG stays above {max_bytes} bytes even at quality 50"
    )))
}

/// Encode RGBA8 pixels as PNG.
pub fn encode_png_rgba(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, StageError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(pixels, width, height, ExtendedColorType::Rgba8)
        .map_err(|e| StageError::Internal(format!("PNG encode: {e}")))?;
    Ok(out)
}

/// The normalized model input.
pub struct Normalized {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub original_width: u32,
    pub original_height: u32,
}

/// The whole normalization: size check, format, header dimensions, decode, orient, resize, encode.
pub fn normalize(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<(ImageFormat, Normalized), StageError> {
    check_size(bytes.len() as u64, limits)?;
    let format = detect_format(bytes)?;
    let (w, h) = header_dimensions(bytes, format)?;
    check_dimensions(w, h, limits)?;
    let decoded = decode_upright(bytes, format, limits.long_edge)?;
    let image = fit_long_edge(decoded.image, limits.long_edge)?;
    let jpeg = encode_jpeg(&image, limits.max_output_bytes)?;
    Ok((
        format,
        Normalized {
            jpeg,
            width: image.width(),
            height: image.height(),
            original_width: decoded.original_width,
            original_height: decoded.original_height,
        },
    ))
}

/// Refuse uploads over the byte limit.
pub fn check_size(size: u64, limits: &ImageLimits) -> Result<(), StageError> {
    if size > limits.max_bytes {
        return Err(StageError::ImageTooLarge(format!(
            "the upload is {:.1} MB; the limit is {:.0} MB",
            size as f64 / 1048576.0,
            limits.max_bytes as f64 / 1048576.0
        )));
    }
    Ok(())
}

/// Decode a JPEG we produced ourselves (the normalized model input) to RGB.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, StageError> {
    image::load_from_memory(bytes)
        .map(|i| i.to_rgb8())
        .map_err(|e| StageError::InvalidImage(format!("cannot decode the normalized image: {e}")))
}

// ---------------------------------------------------------------------------------------------
// HEIC

/// Whether this build's ValidateImage decodes `format`. The API reads it before it presigns an
/// upload, so a deployment never accepts an upload its pipeline would refuse.
pub fn decodes(format: ImageFormat) -> bool {
    match format {
        ImageFormat::Jpeg | ImageFormat::Png => true,
        ImageFormat::Heic => cfg!(feature = "heic"),
    }
}

#[cfg(feature = "heic")]
mod heic {
    use heifer::heifer_isobmff::HeifFile;
    use image::RgbImage;

    use super::{Decoded, MAX_PIXELS};
    use crate::error::StageError;

    fn corrupt(e: impl std::fmt::Display) -> StageError {
        StageError::InvalidImage(format!("corrupt HEIC: {e}"))
    }

    /// The primary image's `ispe` (coded size), read from the container without decoding.
    pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), StageError> {
        let file = HeifFile::parse(bytes).map_err(corrupt)?;
        file.image_size(file.primary_id)
            .map_err(corrupt)?
            .ok_or_else(|| StageError::InvalidImage("HEIC without an image size (ispe)".into()))
    }

    /// Decodes the primary image (grid tiles assembled, `clap`/`irot`/`imir` applied, 10-bit
    /// reduced to 8) and converts it to sRGB from its ICC profile or `nclx` colour information;
    /// an alpha plane is flattened on white. The EXIF orientation is ignored, as HEIF requires:
    /// the container's `irot`/`imir` is the orientation, and applying both would turn twice.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, StageError> {
        let (original_width, original_height) = dimensions(bytes)?;
        let options = heifer::Options {
            max_threads: 0,
            max_pixels: MAX_PIXELS,
        };
        let image = match heifer::decode_srgb_rgba8(bytes, &options) {
            Ok(image) => image,
            // A colour description heifer cannot convert (say PQ/HLG HDR): the coded samples
            // are still a photo, as an unmanaged viewer would show it.
            Err(heifer::Error::Unsupported(why)) => {
                tracing::warn!(%why, "HEIC colour left unconverted");
                heifer::decode_rgba8(bytes, &options).map_err(unreadable)?
            }
            Err(e) => return Err(unreadable(e)),
        };
        let (width, height) = (image.width, image.height);
        let rgb = rgba_to_rgb_in_place(image.data, image.has_alpha);
        let image = RgbImage::from_raw(width, height, rgb)
            .ok_or_else(|| StageError::InvalidImage("HEIC decoded to a short buffer".into()))?;
        Ok(Decoded {
            image,
            original_width,
            original_height,
        })
    }

    /// `R G B A` to `R G B` (over white when `flatten`) in the decoder's own buffer: a 12 MP
    /// photo is 48 MB as RGBA, and a second buffer would add 36 MB to the peak.
    fn rgba_to_rgb_in_place(mut data: Vec<u8>, flatten: bool) -> Vec<u8> {
        let pixels = data.len() / 4;
        for i in 0..pixels {
            let p = [
                data[4 * i],
                data[4 * i + 1],
                data[4 * i + 2],
                data[4 * i + 3],
            ];
            let a = u16::from(p[3]);
            let rgb = if flatten {
                [p[0], p[1], p[2]].map(|c| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8)
            } else {
                [p[0], p[1], p[2]]
            };
            // Pixel i's RGB ends before pixel i + 1's RGBA starts (3i + 3 ≤ 4i + 4): nothing
            // unread is overwritten.
            data[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
        data.truncate(pixels * 3);
        data
    }

    fn unreadable(e: heifer::Error) -> StageError {
        match e {
            heifer::Error::Unsupported(why) => {
                StageError::UnsupportedFormat(format!("this HEIF file uses {why}"))
            }
            other => corrupt(other),
        }
    }
}

#[cfg(not(feature = "heic"))]
mod heic {
    use super::Decoded;
    use crate::error::StageError;

    const MESSAGE: &str =
        "HEIC support not compiled in (build steps with the `heic` feature); upload a JPEG or PNG";

    pub fn dimensions(_bytes: &[u8]) -> Result<(u32, u32), StageError> {
        Err(StageError::UnsupportedFormat(MESSAGE.into()))
    }

    pub fn decode(_bytes: &[u8]) -> Result<Decoded, StageError> {
        Err(StageError::UnsupportedFormat(MESSAGE.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adobe_marker_and_precision_come_from_the_header_only() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        jpeg.extend_from_slice(&[0xFF, 0xC3, 0, 8, 12, 0, 1, 0, 1, 1]);
        let mut with_adobe = jpeg.clone();
        with_adobe.extend_from_slice(&[0xFF, 0xEE, 0, 14]);
        with_adobe.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x02");
        with_adobe.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        let header = JpegHeader::scan(&with_adobe);
        assert!(header.adobe);
        assert_eq!(header.precision, 12);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        jpeg.extend_from_slice(b"\xFF\xEE\x00\x0eAdobe in the entropy-coded data");
        assert!(!JpegHeader::scan(&jpeg).adobe);
    }
}
