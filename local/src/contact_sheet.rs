//! `petavatar contact-sheet PHOTO... -o sheet.png`: the local pipeline on each photo, and one
//! PNG with every photo beside its avatar, to judge the avatars at a glance. A photo the
//! pipeline refuses (not a pet, a person) gets a crossed-out grey tile, so the sheet also
//! shows what was turned away. The legend (name, career, pet) is printed, one line per photo.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::{Rgb, RgbImage, imageops};
use steps::ports::VisionModel;

use crate::run::{self, RunError};

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("no photos given")]
    NoPhotos,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot decode {what}: {message}")]
    Decode { what: String, message: String },
    #[error("cannot encode the sheet: {0}")]
    Encode(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct SheetOptions {
    pub photos: Vec<PathBuf>,
    pub out: PathBuf,
    /// Side of each photo and avatar tile, in pixels.
    pub tile: u32,
    /// Photo + avatar pairs per row.
    pub columns: u32,
}

/// One photo's line of the legend.
pub struct Entry {
    pub photo: PathBuf,
    /// `Ok(one-line summary)` or `Err(why the pipeline refused or failed)`.
    pub summary: Result<String, String>,
}

const GAP: u32 = 12;
const BACKGROUND: Rgb<u8> = Rgb([250, 250, 247]);
const REFUSED: Rgb<u8> = Rgb([214, 214, 210]);
const CROSS: Rgb<u8> = Rgb([190, 40, 40]);

/// Runs the pipeline on every photo (one after another: each run already keeps the cores busy)
/// and writes the sheet. The vision model is loaded once for all of them.
pub async fn contact_sheet(options: &SheetOptions) -> Result<Vec<Entry>, SheetError> {
    if options.photos.is_empty() {
        return Err(SheetError::NoPhotos);
    }
    let vision: Arc<dyn VisionModel> =
        Arc::new(vision::LocalVision::load().map_err(RunError::from)?);
    let mut tiles = Vec::with_capacity(options.photos.len());
    let mut entries = Vec::with_capacity(options.photos.len());
    for path in &options.photos {
        let (pair, entry) = one_photo(path, vision.clone(), options.tile).await?;
        tiles.push(pair);
        entries.push(entry);
    }
    let sheet = compose(&tiles, options.tile, options.columns.max(1));
    let mut png = std::io::Cursor::new(Vec::new());
    sheet
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| SheetError::Encode(e.to_string()))?;
    let png = png.into_inner();
    std::fs::write(&options.out, png).map_err(|source| SheetError::Write {
        path: options.out.clone(),
        source,
    })?;
    Ok(entries)
}

/// The photo tile, the avatar tile (or the refused tile) and the legend line of one photo.
async fn one_photo(
    path: &Path,
    vision: Arc<dyn VisionModel>,
    tile: u32,
) -> Result<((RgbImage, RgbImage), Entry), SheetError> {
    let bytes = run::read_photo(path).await?;
    let photo = steps::imaging::decode_rgb(&bytes)
        .map(|image| fit_square(&image, tile))
        .unwrap_or_else(|_| refused_tile(tile));
    let outcome = run::pipeline(path, bytes, None, vision, false).await?;
    let (avatar, summary) = match outcome.result() {
        Ok(()) => {
            let png = outcome
                .image("avatar.png")
                .ok_or_else(|| SheetError::Decode {
                    what: format!("the avatar of {}", path.display()),
                    message: "the completed job stored no avatar.png".into(),
                })?;
            let avatar = steps::imaging::decode_rgb(png).map_err(|e| SheetError::Decode {
                what: format!("the avatar of {}", path.display()),
                message: e.to_string(),
            })?;
            let avatar = imageops::resize(&avatar, tile, tile, imageops::FilterType::Lanczos3);
            (avatar, Ok(summary(&outcome.job)))
        }
        Err(e) => (refused_tile(tile), Err(e.to_string())),
    };
    Ok((
        (photo, avatar),
        Entry {
            photo: path.to_owned(),
            summary,
        },
    ))
}

fn summary(job: &steps::Job) -> String {
    let identity = job.identity_package.as_ref();
    let pet = job.pet_analysis.as_ref();
    format!(
        "{} — {} {} · {} {} ({}, {})",
        identity.map_or("?", |i| i.name.as_str()),
        identity.map_or("?", |i| i.seniority.as_str()),
        identity.map_or("?", |i| i.job_title.as_str()),
        pet.map_or("?", |p| p.species.as_str()),
        pet.map_or("?", |p| p.breed.as_str()),
        pet.map_or("?", |p| p.expression.as_str()),
        pet.map_or("?", |p| p.posture.as_str()),
    )
}

/// The photo scaled to fit a square tile, centred on the sheet's background.
fn fit_square(image: &RgbImage, tile: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let scale = tile as f32 / w.max(h).max(1) as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).clamp(1, tile),
        ((h as f32 * scale).round() as u32).clamp(1, tile),
    );
    let scaled = imageops::resize(image, nw, nh, imageops::FilterType::Lanczos3);
    let mut out = RgbImage::from_pixel(tile, tile, BACKGROUND);
    imageops::replace(
        &mut out,
        &scaled,
        i64::from((tile - nw) / 2),
        i64::from((tile - nh) / 2),
    );
    out
}

/// A grey tile crossed out in red: the pipeline refused this photo.
fn refused_tile(tile: u32) -> RgbImage {
    let mut out = RgbImage::from_pixel(tile, tile, REFUSED);
    let thickness = (tile / 64).max(2) as i64;
    let margin = tile / 5;
    for i in margin..tile - margin {
        for d in -thickness..=thickness {
            let (a, b) = (i64::from(i) + d, i64::from(tile - 1 - i) + d);
            for (x, y) in [(i64::from(i), a), (i64::from(i), b)] {
                if (0..i64::from(tile)).contains(&y) {
                    out.put_pixel(x as u32, y as u32, CROSS);
                }
            }
        }
    }
    out
}

fn sheet_width(count: usize, tile: u32, columns: u32) -> u32 {
    let cols = columns.min(count.max(1) as u32);
    GAP + cols * (2 * tile + GAP + 2 * GAP)
}

fn sheet_height(count: usize, tile: u32, columns: u32) -> u32 {
    let rows = (count as u32).div_ceil(columns);
    GAP + rows * (tile + 2 * GAP)
}

/// Pairs laid out left to right, top to bottom: photo, a small gap, its avatar; a wider gap
/// between pairs.
fn compose(tiles: &[(RgbImage, RgbImage)], tile: u32, columns: u32) -> RgbImage {
    let mut sheet = RgbImage::from_pixel(
        sheet_width(tiles.len(), tile, columns),
        sheet_height(tiles.len(), tile, columns),
        BACKGROUND,
    );
    for (i, (photo, avatar)) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let x = GAP + col * (2 * tile + 3 * GAP) + GAP;
        let y = GAP + row * (tile + 2 * GAP) + GAP / 2;
        imageops::replace(&mut sheet, photo, i64::from(x), i64::from(y));
        imageops::replace(&mut sheet, avatar, i64::from(x + tile + GAP), i64::from(y));
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sheet_has_room_for_every_pair() {
        let tile = 40;
        let pairs: Vec<_> = (0..5)
            .map(|i| {
                (
                    RgbImage::from_pixel(tile, tile, Rgb([i * 40, 0, 0])),
                    RgbImage::from_pixel(tile, tile, Rgb([0, i * 40 + 10, 0])),
                )
            })
            .collect();
        let sheet = compose(&pairs, tile, 2);
        assert_eq!(
            sheet.dimensions(),
            (sheet_width(5, tile, 2), sheet_height(5, tile, 2))
        );
        // The last pair's avatar (row 2, column 0) is on the sheet.
        let x = GAP + GAP + tile + GAP + tile / 2;
        let y = GAP + 2 * (tile + 2 * GAP) + GAP / 2 + tile / 2;
        assert_eq!(*sheet.get_pixel(x, y), Rgb([0, 170, 0]));
    }

    #[test]
    fn a_wide_photo_is_letterboxed_into_its_tile() {
        let wide = RgbImage::from_pixel(200, 100, Rgb([10, 20, 30]));
        let tile = fit_square(&wide, 64);
        assert_eq!(tile.dimensions(), (64, 64));
        assert_eq!(*tile.get_pixel(32, 2), BACKGROUND);
        assert_eq!(*tile.get_pixel(32, 32), Rgb([10, 20, 30]));
    }
}
