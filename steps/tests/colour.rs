//! Every colour model and bit depth a camera, scanner or editor writes reaches the models as
//! ordinary 8-bit sRGB close to the photo. The fixtures are the cat of `fixtures/chelsea.png`
//! written by real encoders (Pillow, pypng, libjpeg; `tests/fixtures/colour/make.py`).

use image::RgbImage;
use steps::{ImageFormat, ImageLimits, imaging};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/colour");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn reference() -> RgbImage {
    image::load_from_memory(&fixture("reference.png"))
        .unwrap()
        .to_rgb8()
}

/// The normalized JPEG of `name`, decoded again (what a model reads).
fn normalized(name: &str) -> (ImageFormat, RgbImage) {
    let (format, out) = imaging::normalize(&fixture(name), &ImageLimits::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let decoded = image::load_from_memory_with_format(&out.jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    (format, decoded)
}

/// Both images box-averaged to 15×10 cells (dithering and palettes average out), then the mean
/// absolute difference per channel, 0–255.
fn distance(a: &RgbImage, b: &RgbImage, luma_only: bool) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let cells = |img: &RgbImage| -> Vec<[f64; 3]> {
        let (w, h) = img.dimensions();
        let mut out = vec![[0.0; 3]; 150];
        let mut counts = [0.0f64; 150];
        for (x, y, p) in img.enumerate_pixels() {
            let cell = (y * 10 / h * 15 + x * 15 / w) as usize;
            let px = if luma_only {
                let l = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
                [l; 3]
            } else {
                [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
            };
            for c in 0..3 {
                out[cell][c] += px[c];
            }
            counts[cell] += 1.0;
        }
        for (cell, n) in out.iter_mut().zip(counts) {
            cell.iter_mut().for_each(|v| *v /= n);
        }
        out
    };
    let (ca, cb) = (cells(a), cells(b));
    let total: f64 = ca
        .iter()
        .zip(&cb)
        .map(|(x, y)| (0..3).map(|c| (x[c] - y[c]).abs()).sum::<f64>())
        .sum();
    total / (150.0 * 3.0)
}

/// The unmanaged reading (what a decoder without colour management shows), for comparison.
fn unmanaged(name: &str) -> RgbImage {
    image::load_from_memory(&fixture(name)).unwrap().to_rgb8()
}

#[test]
fn cmyk_and_ycck_jpegs_come_out_as_the_photo() {
    let cat = reference();
    for (name, tolerance) in [
        ("cmyk-adobe.jpg", 1.0),
        ("ycck.jpg", 2.0),
        ("cmyk-icc.jpg", 4.0),
    ] {
        let (format, out) = normalized(name);
        assert_eq!(format, ImageFormat::Jpeg);
        let d = distance(&out, &cat, false);
        assert!(d < tolerance, "{name}: mean difference {d:.1}");
    }
}

#[test]
fn icc_profiles_are_applied() {
    let cat = reference();
    for name in ["adobergb-icc.jpg", "prophoto-icc.png"] {
        let (_, out) = normalized(name);
        let managed = distance(&out, &cat, false);
        let raw = distance(&unmanaged(name), &cat, false);
        assert!(managed < 1.0, "{name}: mean difference {managed:.1}");
        // The fixture is a real test: read without its profile it is visibly off.
        assert!(
            raw > 2.0 * managed + 3.0,
            "{name}: unmanaged {raw:.1}, managed {managed:.1}"
        );
    }
}

#[test]
fn grey_low_bit_depth_palette_and_alpha_pngs_come_out_as_rgb() {
    let cat = reference();
    // (file, compare luma only, tolerance). Alpha is flattened on white, so grey-alpha is
    // compared with the cat over white along the same gradient.
    let cases = [
        ("grey.jpg", true, 1.0),
        ("bilevel-1bit.png", true, 4.0),
        ("grey-2bit.png", true, 14.0),
        ("grey-4bit.png", true, 3.0),
        ("palette-2bit.png", false, 12.0),
        ("palette-4bit.png", false, 6.0),
        ("rgb-16bit.png", false, 1.0),
        ("rgba-16bit-interlaced.png", false, 1.0),
        ("rgb-interlaced.png", false, 1.0),
    ];
    for (name, luma_only, tolerance) in cases {
        let (format, out) = normalized(name);
        assert_eq!(
            format,
            if name.ends_with(".jpg") {
                ImageFormat::Jpeg
            } else {
                ImageFormat::Png
            }
        );
        assert_eq!(out.dimensions(), cat.dimensions(), "{name}");
        let d = distance(&out, &cat, luma_only);
        assert!(d < tolerance, "{name}: mean difference {d:.1}");
    }
}

#[test]
fn transparency_is_flattened_on_white() {
    // palette-trns.png: palette entry 0 is transparent; grey-alpha.png: alpha ramps 0..255.
    let (_, out) = normalized("grey-alpha.png");
    let source = image::load_from_memory(&fixture("grey-alpha.png"))
        .unwrap()
        .to_luma_alpha8();
    let expected = RgbImage::from_fn(source.width(), source.height(), |x, y| {
        let p = source.get_pixel(x, y);
        let a = f64::from(p[1]) / 255.0;
        let v = (f64::from(p[0]) * a + 255.0 * (1.0 - a)).round() as u8;
        image::Rgb([v, v, v])
    });
    let d = distance(&out, &expected, false);
    assert!(d < 2.0, "grey-alpha: mean difference {d:.1}");
    let (x, y, _) = source
        .enumerate_pixels()
        .min_by_key(|(_, _, p)| p[1])
        .unwrap();
    let transparent = out.get_pixel(x, y);
    assert!(
        transparent[0] > 200,
        "{transparent:?}: white where transparent"
    );

    let (_, out) = normalized("palette-trns.png");
    assert!(distance(&out, &reference(), false) < 8.0);
}
