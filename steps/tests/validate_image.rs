//! ValidateImage against real encoded images and hostile files.

use bytes::Bytes;
use chrono::Utc;
use image::{ImageEncoder, RgbImage};
use steps::ports::{JobStore, ObjectStore};
use steps::{ImageFormat, ImageLimits, Job, JobStatus, Stage, validate_image};
use uuid::Uuid;

use steps::memory::InMemoryWorld as World;

fn world(limits: ImageLimits) -> World {
    let mut world = World::offline();
    world.deps.limits = limits;
    world
}

async fn validate(w: &World, bytes: Vec<u8>) -> Result<steps::ImageInfo, steps::StageError> {
    let job_id = Uuid::new_v4();
    let key = format!("uploads/{job_id}/original.bin");
    w.uploads
        .put(&key, Bytes::from(bytes), "application/octet-stream")
        .await
        .unwrap();
    w.jobs
        .create(Job::new(job_id, "o", &key, Utc::now()))
        .await
        .unwrap();
    let out = validate_image::run(
        validate_image::Input {
            job_id,
            key,
            bucket: None,
        },
        &w.deps,
    )
    .await;
    let job = w.jobs.get(job_id).await.unwrap();
    assert_eq!(
        (job.status, job.stage),
        (JobStatus::Processing, Stage::ValidateImage),
        "the stage records itself"
    );
    out
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128])
    })
}

/// Writes `img` (RGB) with `encoder`.
fn write_rgb(img: &RgbImage, encoder: impl ImageEncoder) {
    encoder
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_rgb(
        img,
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90),
    );
    out
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    write_rgb(img, image::codecs::png::PngEncoder::new(&mut out));
    out
}

/// A little-endian TIFF/EXIF block with one IFD entry: Orientation = `value`.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&value.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

/// Insert an APP1 Exif segment right after SOI.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid PNG whose IHDR claims `w`×`h` (with a correct CRC): a decompression bomb's header.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png(&gradient(8, 8));
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[tokio::test]
async fn a_large_jpeg_is_normalized_to_the_model_input() {
    let w = world(ImageLimits::default());
    let info = validate(&w, jpeg(&gradient(3000, 2000))).await.unwrap();
    assert_eq!(info.format, ImageFormat::Jpeg);
    assert_eq!((info.width, info.height), (1568, 1045));
    assert_eq!((info.original_width, info.original_height), (3000, 2000));
    let out = w.uploads.get(&info.normalized_key).await.unwrap();
    assert_eq!(out.len() as u64, info.bytes);
    assert!(info.bytes < 3_750_000);
    let decoded = image::load_from_memory(&out).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1568, 1045));
}

#[tokio::test]
async fn a_small_png_is_not_enlarged() {
    let w = world(ImageLimits::default());
    let info = validate(&w, png(&gradient(300, 200))).await.unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (ImageFormat::Png, 300, 200)
    );
}

#[tokio::test]
async fn exif_orientation_is_applied_and_metadata_stripped() {
    let w = world(ImageLimits::default());
    // Orientation 6: the camera was turned; the upright picture is the stored one rotated 90°.
    let mut img = gradient(400, 200);
    for y in 0..200 {
        for x in 0..40 {
            img.put_pixel(x, y, image::Rgb([255, 0, 0])); // a red band on the stored left edge
        }
    }
    let upload = with_exif(&jpeg(&img), &exif_orientation(6));
    let info = validate(&w, upload).await.unwrap();
    assert_eq!((info.width, info.height), (200, 400), "rotated to portrait");
    let out = w.uploads.get(&info.normalized_key).await.unwrap();
    assert!(!out.windows(4).any(|win| win == b"Exif"), "EXIF stripped");
    let upright = image::load_from_memory(&out).unwrap().to_rgb8();
    // Rotating 90° clockwise moves the stored left edge to the top.
    let top = upright.get_pixel(100, 5);
    let bottom = upright.get_pixel(100, 395);
    assert!(top[0] > 200 && top[1] < 60, "top {top:?}");
    assert!(bottom[0] < 200 || bottom[1] > 60, "bottom {bottom:?}");
}

#[tokio::test]
async fn other_formats_and_non_images_are_rejected_with_reasons() {
    let w = world(ImageLimits::default());
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0, 0x3B]);
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0; 60]);
    let mut webp = b"RIFF\x20\0\0\0WEBPVP8 ".to_vec();
    webp.extend_from_slice(&[0; 20]);
    let mut avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec();
    avif.extend_from_slice(&[0; 8]);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("gif", gif, "PetAvatar.UnsupportedFormat", "GIF"),
        ("bmp", bmp, "PetAvatar.UnsupportedFormat", "BMP"),
        (
            "tiff",
            b"II*\0\x08\0\0\0\0\0".to_vec(),
            "PetAvatar.UnsupportedFormat",
            "TIFF",
        ),
        ("webp", webp, "PetAvatar.UnsupportedFormat", "WebP"),
        ("avif", avif, "PetAvatar.UnsupportedFormat", "AVIF"),
        (
            "svg",
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".to_vec(),
            "PetAvatar.UnsupportedFormat",
            "SVG",
        ),
        (
            "text",
            b"hello, this is not a photo\n".to_vec(),
            "PetAvatar.InvalidImage",
            "text",
        ),
        ("empty", Vec::new(), "PetAvatar.InvalidImage", "empty"),
        (
            "garbage",
            vec![0, 1, 2, 3, 250, 251, 252, 7, 8],
            "PetAvatar.InvalidImage",
            "not a recognisable image",
        ),
    ];
    for (what, bytes, name, reason) in cases {
        let err = validate(&w, bytes).await.expect_err(what);
        assert_eq!(err.name(), name, "{what}: {err}");
        assert!(err.to_string().contains(reason), "{what}: {err}");
    }
}

#[tokio::test]
async fn truncated_and_corrupt_images_are_invalid() {
    let w = world(ImageLimits::default());
    let full = jpeg(&gradient(640, 480));
    let err = validate(&w, full[..full.len() / 3].to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.InvalidImage", "{err}");
    let full_png = png(&gradient(640, 480));
    let err = validate(&w, full_png[..full_png.len() / 2].to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.InvalidImage", "{err}");
    let mut corrupt = full_png.clone();
    for b in corrupt.iter_mut().skip(60).take(200) {
        *b ^= 0x5A;
    }
    let err = validate(&w, corrupt).await.unwrap_err();
    assert_eq!(err.name(), "PetAvatar.InvalidImage", "{err}");
}

#[tokio::test]
async fn heic_without_the_feature_says_so() {
    let w = world(ImageLimits::default());
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.extend_from_slice(&[0; 64]);
    let err = validate(&w, heic).await.unwrap_err();
    if cfg!(feature = "heic") {
        assert_eq!(err.name(), "PetAvatar.InvalidImage", "{err}");
    } else {
        assert_eq!(err.name(), "PetAvatar.UnsupportedFormat");
        assert!(
            err.to_string().contains("HEIC support not compiled in"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_from_its_header() {
    let w = world(ImageLimits::default());
    let err = validate(&w, png_claiming(30_000, 30_000))
        .await
        .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.ImageTooLarge", "{err}");
    assert!(err.to_string().contains("megapixels"), "{err}");
}

#[tokio::test]
async fn uploads_over_the_byte_limit_are_too_large() {
    let limits = ImageLimits {
        max_bytes: 10_000,
        ..ImageLimits::default()
    };
    let w = world(limits);
    let mut noisy = gradient(200, 200);
    for (i, p) in noisy.pixels_mut().enumerate() {
        p[2] = (i * 7919 % 251) as u8;
    }
    let bytes = png(&noisy);
    assert!(bytes.len() > 10_000);
    let err = validate(&w, bytes).await.unwrap_err();
    assert_eq!(err.name(), "PetAvatar.ImageTooLarge");
}

#[tokio::test]
async fn a_key_outside_the_jobs_prefix_is_refused() {
    let w = world(ImageLimits::default());
    let job_id = Uuid::new_v4();
    let input = validate_image::Input {
        job_id,
        key: format!("uploads/{}/original.png", Uuid::new_v4()),
        bucket: None,
    };
    let err = validate_image::run(input, &w.deps).await.unwrap_err();
    assert_eq!(err.name(), "PetAvatar.InvalidInput");
}
