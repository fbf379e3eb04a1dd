//! HEIC, what an iPhone sends, in the default build: real files written by Debian's heif-enc
//! (libheif 1.15 + x265) and by pillow-heif (libheif 1.23 + x265), see
//! `tests/fixtures/heic/make.sh`, go through ValidateImage like any photo.
#![cfg(feature = "heic")]

use bytes::Bytes;
use chrono::Utc;
use image::RgbImage;
use steps::memory::InMemoryWorld as World;
use steps::ports::{JobStore, ObjectStore};
use steps::{ImageFormat, ImageLimits, Job, imaging, validate_image};
use uuid::Uuid;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn reference() -> RgbImage {
    image::load_from_memory(&fixture("colour/reference.png"))
        .unwrap()
        .to_rgb8()
}

/// Mean absolute difference per channel (0–255) of the two images' 15×10 cell means.
fn distance(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let means = |img: &RgbImage| {
        let (w, h) = img.dimensions();
        let mut sums = vec![[0.0f64; 4]; 150];
        for (x, y, p) in img.enumerate_pixels() {
            let cell = &mut sums[(y * 10 / h * 15 + x * 15 / w) as usize];
            for c in 0..3 {
                cell[c] += f64::from(p[c]);
            }
            cell[3] += 1.0;
        }
        sums.into_iter()
            .map(|s| [s[0] / s[3], s[1] / s[3], s[2] / s[3]])
            .collect::<Vec<_>>()
    };
    let (ma, mb) = (means(a), means(b));
    let total: f64 = ma
        .iter()
        .zip(&mb)
        .map(|(x, y)| (0..3).map(|c| (x[c] - y[c]).abs()).sum::<f64>())
        .sum();
    total / 450.0
}

/// The upload as ValidateImage sees it, under `name` (the extension is not trusted), and the
/// normalized JPEG it wrote, decoded.
async fn validate(name: &str, upload_as: &str) -> (steps::ImageInfo, RgbImage) {
    let world = World::offline();
    let job_id = Uuid::new_v4();
    let key = format!("uploads/{job_id}/{upload_as}");
    world
        .uploads
        .put(&key, Bytes::from(fixture(name)), "image/jpeg")
        .await
        .unwrap();
    world
        .jobs
        .create(Job::new(job_id, "o", &key, Utc::now()))
        .await
        .unwrap();
    let input = validate_image::Input {
        job_id,
        key,
        bucket: None,
    };
    let info = validate_image::run(input, &world.deps)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let jpeg = world.uploads.get(&info.normalized_key).await.unwrap();
    let out = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    (info, out)
}

#[test]
fn the_default_build_decodes_heic() {
    assert!(imaging::decodes(ImageFormat::Heic));
}

#[tokio::test]
async fn heic_photos_come_out_as_the_photo() {
    let cat = reference();
    for (name, tolerance) in [
        ("heic/plain.heic", 1.0),
        ("heic/thumbnail.heic", 1.0),
        ("heic/10bit.heic", 1.0),
        ("heic/prophoto-icc.heic", 1.0),
    ] {
        let (info, out) = validate(name, "original.heic").await;
        assert_eq!(info.format, ImageFormat::Heic, "{name}");
        assert_eq!(
            (info.width, info.height),
            (225, 150),
            "{name}: the primary image, not the thumbnail"
        );
        let d = distance(&out, &cat);
        eprintln!("{name}: {d:.2}");
        assert!(d < tolerance, "{name}: mean difference {d:.2}");
    }
}

#[tokio::test]
async fn a_heic_named_jpg_is_read_from_its_bytes() {
    let (info, out) = validate("heic/plain.heic", "original.jpg").await;
    assert_eq!(info.format, ImageFormat::Heic);
    assert!(distance(&out, &reference()) < 2.0);
}

#[tokio::test]
async fn the_container_rotation_is_applied_once() {
    // Stored sideways (150×225) with irot and an EXIF orientation of 6 that says the same.
    let (info, out) = validate("heic/rotated.heic", "original.heic").await;
    assert_eq!((info.width, info.height), (225, 150), "upright");
    let d = distance(&out, &reference());
    assert!(d < 2.0, "mean difference {d:.2}");
}

#[tokio::test]
async fn alpha_is_flattened_on_white_at_8_and_10_bits() {
    let cat = reference();
    // The alpha ramps from 0 on the left to 255 on the right.
    let expected = RgbImage::from_fn(cat.width(), cat.height(), |x, y| {
        let a = f64::from(x) / f64::from(cat.width() - 1);
        let p = cat.get_pixel(x, y);
        image::Rgb(p.0.map(|c| (f64::from(c) * a + 255.0 * (1.0 - a)).round() as u8))
    });
    for name in ["heic/alpha.heic", "heic/10bit-alpha.heic"] {
        let (info, out) = validate(name, "original.heic").await;
        assert_eq!((info.width, info.height), (225, 150), "{name}");
        let d = distance(&out, &expected);
        eprintln!("{name}: {d:.2}");
        assert!(d < 1.5, "{name}: mean difference {d:.2}");
        let left = out.get_pixel(1, 75);
        assert!(
            left.0.iter().all(|&c| c > 235),
            "{name}: {left:?} white where transparent"
        );
    }
}

#[test]
fn a_truncated_heic_is_invalid() {
    let bytes = fixture("heic/plain.heic");
    let err = imaging::normalize(&bytes[..bytes.len() / 2], &ImageLimits::default())
        .err()
        .expect("a half file");
    assert_eq!(err.name(), "PetAvatar.InvalidImage", "{err}");
}
