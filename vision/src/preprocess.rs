//! From decoded pixels to the networks' inputs.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::efficientnet::{INPUT, RESIZE};

#[derive(Debug, thiserror::Error)]
#[error("resizing the photo: {0}")]
pub struct ResizeError(String);

/// Resize to exactly `width`×`height` with `filter` (antialiased when shrinking).
pub fn resize(
    image: &RgbImage,
    width: u32,
    height: u32,
    filter: FilterType,
) -> Result<RgbImage, ResizeError> {
    let (w, h) = image.dimensions();
    if (w, h) == (width, height) {
        return Ok(image.clone());
    }
    let src = Image::from_vec_u8(w, h, image.as_raw().clone(), PixelType::U8x3)
        .map_err(|e| ResizeError(e.to_string()))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)),
        )
        .map_err(|e| ResizeError(e.to_string()))?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| ResizeError("short buffer".into()))
}

/// One way of showing the photo to the classifier (test-time augmentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Short side resized to 256 (bicubic), the centre 224×224: how the network was trained and
    /// validated.
    Centre,
    /// The whole frame, long side resized to 224, the rest padded with the neutral grey that
    /// normalises to 0: nothing off-centre is cut away.
    Frame,
    /// [`View::Centre`] mirrored left to right.
    CentreMirrored,
    /// [`View::Frame`] mirrored left to right.
    FrameMirrored,
}

impl View {
    /// The views in the order they are added: the network's own crop first, then the whole
    /// frame (new pixels: a subject near the edge), then the mirrors (the same pixels again,
    /// which only smooths the network's left–right asymmetries).
    pub const ORDER: [View; 4] = [
        View::Centre,
        View::Frame,
        View::CentreMirrored,
        View::FrameMirrored,
    ];

    fn mirrored(self) -> bool {
        matches!(self, View::CentreMirrored | View::FrameMirrored)
    }
}

/// The grey that the classifier's normalisation maps to 0 (the padding of [`View::Frame`]).
const NEUTRAL: u8 = 127;

/// The classifier's input for `view`, scaled to `(v − 127) / 128`, planar RGB.
pub fn classifier_input_view(image: &RgbImage, view: View) -> Result<Vec<f32>, ResizeError> {
    let square = match view {
        View::Centre | View::CentreMirrored => centre_crop(image)?,
        View::Frame | View::FrameMirrored => letterbox(image)?,
    };
    Ok(planes(&square, view.mirrored()))
}

/// The classifier's input: [`View::Centre`].
pub fn classifier_input(image: &RgbImage) -> Result<Vec<f32>, ResizeError> {
    classifier_input_view(image, View::Centre)
}

fn centre_crop(image: &RgbImage) -> Result<RgbImage, ResizeError> {
    let (w, h) = image.dimensions();
    let scale = f64::from(RESIZE) / f64::from(w.min(h).max(1));
    let side = INPUT as u32;
    let (rw, rh) = (
        ((f64::from(w) * scale).round() as u32).max(side),
        ((f64::from(h) * scale).round() as u32).max(side),
    );
    let resized = resize(image, rw, rh, FilterType::CatmullRom)?;
    let (left, top) = ((rw - side) / 2, (rh - side) / 2);
    Ok(image::imageops::crop_imm(&resized, left, top, side, side).to_image())
}

fn letterbox(image: &RgbImage) -> Result<RgbImage, ResizeError> {
    let (w, h) = image.dimensions();
    let side = INPUT as u32;
    let scale = f64::from(side) / f64::from(w.max(h).max(1));
    let (rw, rh) = (
        ((f64::from(w) * scale).round() as u32).clamp(1, side),
        ((f64::from(h) * scale).round() as u32).clamp(1, side),
    );
    let resized = resize(image, rw, rh, FilterType::CatmullRom)?;
    let mut square = RgbImage::from_pixel(side, side, image::Rgb([NEUTRAL; 3]));
    image::imageops::replace(
        &mut square,
        &resized,
        i64::from((side - rw) / 2),
        i64::from((side - rh) / 2),
    );
    Ok(square)
}

fn planes(square: &RgbImage, mirrored: bool) -> Vec<f32> {
    let mut planes = vec![0.0f32; 3 * INPUT * INPUT];
    for y in 0..INPUT {
        for x in 0..INPUT {
            let sx = if mirrored { INPUT - 1 - x } else { x };
            let p = square.get_pixel(sx as u32, y as u32);
            for c in 0..3 {
                planes[c * INPUT * INPUT + y * INPUT + x] =
                    (f32::from(p[c]) - f32::from(NEUTRAL)) / 128.0;
            }
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, _| {
            image::Rgb([(x * 255 / w.max(1)) as u8, 50, 200])
        })
    }

    #[test]
    fn a_mirrored_view_is_the_view_reversed_along_each_row() {
        let image = gradient(300, 200);
        for (plain, mirrored) in [
            (View::Centre, View::CentreMirrored),
            (View::Frame, View::FrameMirrored),
        ] {
            let a = classifier_input_view(&image, plain).unwrap();
            let b = classifier_input_view(&image, mirrored).unwrap();
            for row in a.chunks(INPUT).zip(b.chunks(INPUT)) {
                let reversed: Vec<f32> = row.1.iter().rev().copied().collect();
                assert_eq!(row.0, reversed.as_slice());
            }
        }
    }

    #[test]
    fn the_frame_view_keeps_the_whole_photo_and_pads_with_zero() {
        // A wide photo: 224 wide, 112 high in the frame view, zeros above and below.
        let image = gradient(400, 200);
        let frame = classifier_input_view(&image, View::Frame).unwrap();
        let red = &frame[..INPUT * INPUT];
        assert!(red[..INPUT * 50].iter().all(|&v| v == 0.0));
        assert!(red[INPUT * 174..].iter().all(|&v| v == 0.0));
        // The row through the middle runs the gradient's whole width: dark left, bright right.
        let middle = &red[INPUT * 112..INPUT * 113];
        assert!(middle[0] < -0.9 && middle[INPUT - 1] > 0.9, "{middle:?}");
        // The centre crop cuts the sides away.
        let centre = classifier_input_view(&image, View::Centre).unwrap();
        let middle = &centre[INPUT * 112..INPUT * 113];
        assert!(middle[0] > -0.5 && middle[INPUT - 1] < 0.5, "{middle:?}");
    }
}
