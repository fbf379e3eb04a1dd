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

/// The classifier's input: short side resized to 256 (bicubic), the centre 224×224, scaled to
/// `(v − 127) / 128`, planar RGB.
pub fn classifier_input(image: &RgbImage) -> Result<Vec<f32>, ResizeError> {
    let (w, h) = image.dimensions();
    let scale = f64::from(RESIZE) / f64::from(w.min(h).max(1));
    let side = INPUT as u32;
    let (rw, rh) = (
        ((f64::from(w) * scale).round() as u32).max(side),
        ((f64::from(h) * scale).round() as u32).max(side),
    );
    let resized = resize(image, rw, rh, FilterType::CatmullRom)?;
    let (left, top) = ((rw - side) / 2, (rh - side) / 2);
    let mut planes = vec![0.0f32; 3 * INPUT * INPUT];
    for y in 0..INPUT {
        for x in 0..INPUT {
            let p = resized.get_pixel(left + x as u32, top + y as u32);
            for c in 0..3 {
                planes[c * INPUT * INPUT + y * INPUT + x] = (f32::from(p[c]) - 127.0) / 128.0;
            }
        }
    }
    Ok(planes)
}
