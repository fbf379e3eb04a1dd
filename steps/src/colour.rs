//! Colour management for ValidateImage: whatever the upload's colour model (RGB, grey, CMYK,
//! YCCK after the JPEG decoder) and embedded ICC profile, the models get 8-bit sRGB.
//!
//! Profiles are applied with `qcms` (Firefox's colour management, pure Rust, no dependencies):
//! RGB matrix/TRC and LUT profiles (ICC v2 and v4), grey profiles, and CMYK profiles through
//! their A2B LUT. A profile that cannot be read, or whose colour space does not match the
//! pixels, is ignored with a warning: browsers show such photos as if untagged, and refusing a
//! phone photo for a broken profile would help nobody.

use qcms::{DataType, Intent, Profile, Transform};

/// Decoded 8-bit pixels, by colour model, before colour management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// `R G B` per pixel, in the profile's space (sRGB when there is none).
    Rgb(Vec<u8>),
    /// One luma byte per pixel.
    Grey(Vec<u8>),
    /// `C M Y K` ink per pixel, 0 = no ink (the Adobe inversion already undone).
    Cmyk(Vec<u8>),
}

/// The colour space an ICC profile's header names (bytes 16..20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IccSpace {
    Rgb,
    Grey,
    Cmyk,
    Other,
}

pub fn icc_space(icc: &[u8]) -> IccSpace {
    match icc.get(16..20) {
        Some(b"RGB ") => IccSpace::Rgb,
        Some(b"GRAY") => IccSpace::Grey,
        Some(b"CMYK") => IccSpace::Cmyk,
        _ => IccSpace::Other,
    }
}

/// `pixels` as 8-bit sRGB (`R G B` per pixel), through `icc` when it is usable.
pub fn to_srgb(pixels: Pixels, icc: Option<&[u8]>) -> Vec<u8> {
    let profile = icc.and_then(|bytes| usable_profile(bytes, &pixels));
    match (pixels, profile) {
        (Pixels::Rgb(mut rgb), Some(profile)) => {
            match transform(&profile, DataType::RGB8) {
                Some(t) => t.apply(&mut rgb),
                None => warn_unusable("RGB"),
            }
            rgb
        }
        (Pixels::Rgb(rgb), None) => rgb,
        (Pixels::Grey(grey), Some(profile)) => match transform(&profile, DataType::Gray8) {
            Some(t) => {
                let mut rgb = vec![0; grey.len() * 3];
                t.convert(&grey, &mut rgb);
                rgb
            }
            None => {
                warn_unusable("grey");
                grey_to_rgb(&grey)
            }
        },
        (Pixels::Grey(grey), None) => grey_to_rgb(&grey),
        (Pixels::Cmyk(ink), Some(profile)) => match transform(&profile, DataType::CMYK) {
            Some(t) => {
                let mut rgb = vec![0; ink.len() / 4 * 3];
                t.convert(&ink[..ink.len() / 4 * 4], &mut rgb);
                rgb
            }
            None => {
                warn_unusable("CMYK");
                naive_cmyk_to_rgb(&ink)
            }
        },
        (Pixels::Cmyk(ink), None) => naive_cmyk_to_rgb(&ink),
    }
}

/// The profile, if it parses, matches the pixels' colour model and is not sRGB already.
fn usable_profile(icc: &[u8], pixels: &Pixels) -> Option<Box<Profile>> {
    let expected = match pixels {
        Pixels::Rgb(_) => IccSpace::Rgb,
        Pixels::Grey(_) => IccSpace::Grey,
        Pixels::Cmyk(_) => IccSpace::Cmyk,
    };
    let space = icc_space(icc);
    if space != expected {
        tracing::warn!(
            ?space,
            ?expected,
            "ignoring an ICC profile that does not match the pixels"
        );
        return None;
    }
    let Some(profile) = Profile::new_from_slice(icc, false) else {
        tracing::warn!(
            bytes = icc.len(),
            "ignoring an ICC profile qcms cannot read"
        );
        return None;
    };
    if profile.is_sRGB() {
        return None;
    }
    Some(profile)
}

fn transform(input: &Profile, from: DataType) -> Option<Transform> {
    let mut srgb = Profile::new_sRGB();
    srgb.precache_output_transform();
    Transform::new_to(input, &srgb, from, DataType::RGB8, Intent::Perceptual)
}

fn warn_unusable(model: &str) {
    tracing::warn!(
        model,
        "ignoring an ICC profile qcms cannot build a transform for"
    );
}

fn grey_to_rgb(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|&l| [l, l, l]).collect()
}

/// Without a profile, the textbook separation: `R = (1 − C)(1 − K)`.
fn naive_cmyk_to_rgb(ink: &[u8]) -> Vec<u8> {
    ink.chunks_exact(4)
        .flat_map(|p| {
            let white = 255 - u16::from(p[3]);
            [p[0], p[1], p[2]].map(|c| ((255 - u16::from(c)) * white / 255) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_without_a_profile_separates_naively() {
        let rgb = to_srgb(
            Pixels::Cmyk(vec![0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255]),
            None,
        );
        assert_eq!(rgb, vec![255, 255, 255, 0, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn an_srgb_unreadable_or_mismatched_profile_changes_nothing() {
        let pixels = vec![10, 200, 30];
        let srgb = include_bytes!("../tests/fixtures/colour/srgb-lcms.icc");
        // littleCMS's sRGB is not byte-identical to qcms's own, so it is converted: to itself.
        let converted = to_srgb(Pixels::Rgb(pixels.clone()), Some(srgb));
        assert!(
            converted
                .iter()
                .zip(&pixels)
                .all(|(a, b)| a.abs_diff(*b) <= 1),
            "{converted:?}"
        );
        assert_eq!(icc_space(srgb), IccSpace::Rgb);
        assert_eq!(to_srgb(Pixels::Grey(vec![7]), Some(srgb)), vec![7, 7, 7]);
        assert_eq!(
            to_srgb(Pixels::Rgb(pixels.clone()), Some(b"not a profile")),
            pixels
        );
    }
}
