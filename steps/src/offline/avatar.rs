//! The offline avatar: a head-and-shoulders portrait of a person, drawn with tiny-skia
//! (anti-aliased vector shapes, gradients). Who the person is comes from the pet (`look`: hair
//! from the coat's colours and pattern, face, hair texture and eyes from breed and species,
//! mouth, brows and tilt from expression and posture); what they wear and where they stand come
//! from the career (attire and background scene). The scene is drawn in a 1024-unit design space
//! and scaled to the requested size, so the 1024, 512 and 256 px images are one picture.

mod look;
mod person;

pub use look::{Look, analysis_seed};

use tiny_skia::{
    Color, FillRule, GradientStop, LineCap, LinearGradient, Paint, Path, PathBuilder, Pixmap,
    Point, RadialGradient, Rect, Shader, SpreadMode, Stroke, Transform,
};

use super::careers::{self, Attire, Scene};
use crate::error::StageError;
use crate::imaging;
use crate::ports::ImageRequest;

pub type Rgb = [u8; 3];

/// What the drawing needs to know.
pub struct Portrait {
    pub size: u32,
    pub scene: Scene,
    pub attire: Attire,
    pub look: Look,
    /// Seeds the scene's small random details (skyline windows, flasks); from the analysis, so
    /// the same photo gives the same picture.
    pub seed: u64,
}

impl Portrait {
    /// The portrait for an image request: scene and attire from the catalogue entry when the
    /// career is ours, else by keywords of the career's background and attire text; the person
    /// from the analysis.
    pub fn for_request(request: &ImageRequest) -> Portrait {
        let (scene, attire) = careers::by_title(&request.career.job_title)
            .filter(|c| c.attire.describe() == request.career.attire)
            .map_or_else(
                || {
                    (
                        Scene::from_text(&request.career.background),
                        Attire::from_text(&request.career.attire),
                    )
                },
                |c| (c.scene, c.attire),
            );
        Portrait {
            size: request.size,
            scene,
            attire,
            look: Look::from_analysis(&request.analysis),
            seed: analysis_seed(&request.analysis),
        }
    }
}

/// Render the portrait as PNG bytes.
pub fn render_png(portrait: &Portrait) -> Result<Vec<u8>, StageError> {
    let pixmap = render(portrait)?;
    // Every layer starts from an opaque background, so premultiplied RGBA equals straight RGBA.
    imaging::encode_png_rgba(pixmap.data(), pixmap.width(), pixmap.height())
}

/// Render the portrait.
pub fn render(portrait: &Portrait) -> Result<Pixmap, StageError> {
    let mut canvas = Canvas::new(portrait.size, portrait.seed)?;
    draw_scene(&mut canvas, portrait.scene);
    // A portrait lens: the background out of focus, a soft light behind the head.
    canvas.blur(7.0);
    canvas.radial_glow(512.0, 380.0, 420.0, [255, 250, 240], 70);
    canvas.vignette();
    draw_figure(&mut canvas, portrait.attire, &portrait.look);
    Ok(canvas.pixmap)
}

// ---------------------------------------------------------------------------------------------
// Colours

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [0, 1, 2].map(|i| {
        (f32::from(a[i]) * (1.0 - t) + f32::from(b[i]) * t)
            .round()
            .clamp(0.0, 255.0) as u8
    })
}

fn shade(c: Rgb, amount: f32) -> Rgb {
    if amount >= 0.0 {
        mix(c, [255, 255, 255], amount)
    } else {
        mix(c, [0, 0, 0], -amount)
    }
}

fn luma(c: Rgb) -> f32 {
    0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2])
}

// ---------------------------------------------------------------------------------------------
// Canvas

struct Canvas {
    pixmap: Pixmap,
    /// Scale from the 1024-unit design space to pixels.
    k: f32,
    /// A transform in design space applied before the scale (the head's tilt, the shoulders').
    local: Transform,
    rng: SplitMix,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[(self.next() % options.len() as u64) as usize]
    }
}

fn solid(c: Rgb, alpha: u8) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(c[0], c[1], c[2], alpha);
    paint.anti_alias = true;
    paint
}

fn stop(pos: f32, c: Rgb, alpha: u8) -> GradientStop {
    GradientStop::new(pos, Color::from_rgba8(c[0], c[1], c[2], alpha))
}

impl Canvas {
    fn new(size: u32, seed: u64) -> Result<Canvas, StageError> {
        let pixmap = Pixmap::new(size, size)
            .ok_or_else(|| StageError::Internal(format!("cannot allocate a {size} px canvas")))?;
        Ok(Canvas {
            pixmap,
            k: size as f32 / 1024.0,
            local: Transform::identity(),
            rng: SplitMix(seed),
        })
    }

    fn transform(&self) -> Transform {
        Transform::from_scale(self.k, self.k).pre_concat(self.local)
    }

    /// A box blur run three times (close to a Gaussian), its radius in design units so that
    /// every size blurs alike.
    fn blur(&mut self, radius: f32) {
        let r = (radius * self.k).round().max(1.0) as usize;
        let (w, h) = (self.pixmap.width() as usize, self.pixmap.height() as usize);
        let data = self.pixmap.data_mut();
        for _ in 0..3 {
            box_blur_pass(data, w, h, r, true);
            box_blur_pass(data, w, h, r, false);
        }
    }

    fn fill(&mut self, path: Option<Path>, paint: &Paint) {
        if let Some(path) = path {
            let t = self.transform();
            self.pixmap
                .fill_path(&path, paint, FillRule::Winding, t, None);
        }
    }

    fn fill_rgb(&mut self, path: Option<Path>, c: Rgb) {
        self.fill(path, &solid(c, 255));
    }

    fn stroke(&mut self, path: Option<Path>, c: Rgb, alpha: u8, width: f32) {
        if let Some(path) = path {
            let stroke = Stroke {
                width,
                line_cap: LineCap::Round,
                ..Stroke::default()
            };
            let t = self.transform();
            self.pixmap
                .stroke_path(&path, &solid(c, alpha), &stroke, t, None);
        }
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, c: Rgb) {
        self.fill_rgb(Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect), c);
    }

    fn rect_alpha(&mut self, x: f32, y: f32, w: f32, h: f32, c: Rgb, alpha: u8) {
        self.fill(
            Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect),
            &solid(c, alpha),
        );
    }

    fn round_rect(&mut self, x: f32, y: f32, w: f32, h: f32, r: f32, c: Rgb) {
        self.fill_rgb(round_rect_path(x, y, w, h, r), c);
    }

    fn circle(&mut self, x: f32, y: f32, r: f32, c: Rgb) {
        self.fill_rgb(PathBuilder::from_circle(x, y, r), c);
    }

    fn circle_alpha(&mut self, x: f32, y: f32, r: f32, c: Rgb, alpha: u8) {
        self.fill(PathBuilder::from_circle(x, y, r), &solid(c, alpha));
    }

    fn oval(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, c: Rgb) {
        self.fill_rgb(
            Rect::from_ltrb(cx - rx, cy - ry, cx + rx, cy + ry).and_then(PathBuilder::from_oval),
            c,
        );
    }

    // A drawing primitive reads best with its coordinates spelled out.
    #[allow(clippy::too_many_arguments)]
    fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb, alpha: u8, width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(x0, y0);
        pb.line_to(x1, y1);
        self.stroke(pb.finish(), c, alpha, width);
    }

    fn polygon(&mut self, points: &[(f32, f32)], c: Rgb) {
        self.fill_rgb(polygon_path(points), c);
    }

    /// Fills a rectangle with a gradient; a degenerate gradient (`None`) draws nothing.
    fn shade_rect(&mut self, shader: Option<Shader<'static>>, x: f32, y: f32, w: f32, h: f32) {
        if let Some(shader) = shader {
            let paint = Paint {
                shader,
                anti_alias: true,
                ..Paint::default()
            };
            self.fill(
                Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect),
                &paint,
            );
        }
    }

    fn vertical_gradient(&mut self, y0: f32, y1: f32, top: Rgb, bottom: Rgb) {
        let shader = vertical(y0, y1, vec![stop(0.0, top, 255), stop(1.0, bottom, 255)]);
        self.shade_rect(shader, 0.0, y0, 1024.0, y1 - y0);
    }

    fn radial_glow(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: u8) {
        let shader = radial(cx, cy, 0.0, r, vec![stop(0.0, c, alpha), stop(1.0, c, 0)]);
        self.shade_rect(shader, cx - r, cy - r, 2.0 * r, 2.0 * r);
    }

    /// Darken the corners so the figure stands out, like a studio portrait.
    fn vignette(&mut self) {
        let stops = vec![stop(0.0, [0, 0, 0], 0), stop(1.0, [0, 0, 0], 110)];
        let shader = radial(512.0, 470.0, 300.0, 760.0, stops);
        self.shade_rect(shader, 0.0, 0.0, 1024.0, 1024.0);
    }
}

/// One pass of a box blur over RGBA rows (`horizontal`) or columns, edges clamped.
fn box_blur_pass(data: &mut [u8], w: usize, h: usize, r: usize, horizontal: bool) {
    let (lines, len) = if horizontal { (h, w) } else { (w, h) };
    let at = |line: usize, i: usize| {
        if horizontal {
            (line * w + i) * 4
        } else {
            (i * w + line) * 4
        }
    };
    let mut buffer = vec![[0u8; 4]; len];
    let window = (2 * r + 1) as u32;
    for line in 0..lines {
        for (i, px) in buffer.iter_mut().enumerate() {
            let o = at(line, i);
            px.copy_from_slice(&data[o..o + 4]);
        }
        let mut sum = [0u32; 4];
        for k in 0..=2 * r {
            let px = buffer[k.saturating_sub(r).min(len - 1)];
            for ch in 0..4 {
                sum[ch] += u32::from(px[ch]);
            }
        }
        for i in 0..len {
            let o = at(line, i);
            for ch in 0..4 {
                data[o + ch] = (sum[ch] / window) as u8;
            }
            let leaving = buffer[i.saturating_sub(r)];
            let entering = buffer[(i + r + 1).min(len - 1)];
            for ch in 0..4 {
                sum[ch] = sum[ch] + u32::from(entering[ch]) - u32::from(leaving[ch]);
            }
        }
    }
}

/// A top-to-bottom gradient between `y0` and `y1`.
fn vertical(y0: f32, y1: f32, stops: Vec<GradientStop>) -> Option<Shader<'static>> {
    LinearGradient::new(
        Point::from_xy(0.0, y0),
        Point::from_xy(0.0, y1),
        stops,
        SpreadMode::Pad,
        Transform::identity(),
    )
}

/// A gradient in rings around `(cx, cy)`, from radius `r0` to `r1`.
fn radial(cx: f32, cy: f32, r0: f32, r1: f32, stops: Vec<GradientStop>) -> Option<Shader<'static>> {
    RadialGradient::new(
        Point::from_xy(cx, cy),
        r0,
        Point::from_xy(cx, cy),
        r1,
        stops,
        SpreadMode::Pad,
        Transform::identity(),
    )
}

fn round_rect_path(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<Path> {
    let r = r.min(w / 2.0).min(h / 2.0);
    let mut pb = PathBuilder::new();
    pb.move_to(x + r, y);
    pb.line_to(x + w - r, y);
    pb.quad_to(x + w, y, x + w, y + r);
    pb.line_to(x + w, y + h - r);
    pb.quad_to(x + w, y + h, x + w - r, y + h);
    pb.line_to(x + r, y + h);
    pb.quad_to(x, y + h, x, y + h - r);
    pb.line_to(x, y + r);
    pb.quad_to(x, y, x + r, y);
    pb.close();
    pb.finish()
}

fn polygon_path(points: &[(f32, f32)]) -> Option<Path> {
    let (first, rest) = points.split_first()?;
    let mut pb = PathBuilder::new();
    pb.move_to(first.0, first.1);
    for (x, y) in rest {
        pb.line_to(*x, *y);
    }
    pb.close();
    pb.finish()
}

// ---------------------------------------------------------------------------------------------
// Scenes (design space 1024×1024; the figure covers the centre from y≈250 down)

fn draw_scene(c: &mut Canvas, scene: Scene) {
    match scene {
        Scene::CornerOffice => corner_office(c),
        Scene::Laboratory => laboratory(c),
        Scene::CodingDesk => coding_desk(c),
        Scene::ArtStudio => art_studio(c),
        Scene::Kitchen => kitchen(c),
        Scene::Clinic => clinic(c),
        Scene::Classroom => classroom(c),
        Scene::Library => library(c),
        Scene::Workshop => workshop(c),
        Scene::Greenhouse => greenhouse(c),
        Scene::Stage => stage(c),
        Scene::Sky => sky(c),
    }
}

fn corner_office(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [222, 214, 200], [188, 178, 162]);
    // Window with a dusk skyline.
    c.rect(90.0, 90.0, 844.0, 640.0, [70, 64, 60]);
    let sky = vertical(
        100.0,
        720.0,
        vec![
            stop(0.0, [92, 140, 204], 255),
            stop(0.7, [250, 190, 140], 255),
            stop(1.0, [252, 214, 170], 255),
        ],
    );
    c.shade_rect(sky, 104.0, 104.0, 816.0, 612.0);
    let mut x = 104.0;
    while x < 920.0 {
        let w = 40.0 + c.rng.unit() * 70.0;
        let h = 150.0 + c.rng.unit() * 330.0;
        let tone = c
            .rng
            .pick(&[[58u8, 66, 92], [72, 80, 108], [50, 56, 80], [86, 92, 120]]);
        let bw = w.min(920.0 - x);
        c.rect(x, 716.0 - h, bw, h, tone);
        let mut wy = 716.0 - h + 14.0;
        while wy < 700.0 {
            let mut wx = x + 8.0;
            while wx + 8.0 < x + bw - 6.0 {
                if c.rng.unit() < 0.45 {
                    c.rect(wx, wy, 8.0, 10.0, [255, 226, 150]);
                }
                wx += 16.0;
            }
            wy += 22.0;
        }
        x += w + 6.0;
    }
    // Mullions.
    for mx in [372.0, 652.0] {
        c.rect(mx, 104.0, 14.0, 612.0, [70, 64, 60]);
    }
    c.rect(104.0, 400.0, 816.0, 12.0, [70, 64, 60]);
    // Desk edge.
    c.rect(0.0, 860.0, 1024.0, 164.0, [96, 64, 44]);
    c.rect(0.0, 860.0, 1024.0, 10.0, [124, 86, 60]);
}

fn laboratory(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [226, 240, 238], [190, 214, 212]);
    for shelf_y in [250.0, 470.0, 690.0] {
        c.rect(60.0, shelf_y, 904.0, 16.0, [150, 160, 168]);
        let mut x = 80.0;
        while x < 930.0 {
            let liquid = c.rng.pick(&[
                [80u8, 170, 230],
                [120, 210, 120],
                [240, 120, 160],
                [250, 200, 80],
                [170, 120, 230],
            ]);
            let kind = c.rng.next() % 3;
            let h = 70.0 + c.rng.unit() * 60.0;
            match kind {
                0 => {
                    // Erlenmeyer flask.
                    c.polygon(
                        &[
                            (x + 18.0, shelf_y - h),
                            (x + 34.0, shelf_y - h),
                            (x + 52.0, shelf_y),
                            (x, shelf_y),
                        ],
                        [235, 245, 250],
                    );
                    c.polygon(
                        &[
                            (x + 9.0, shelf_y - h * 0.45),
                            (x + 43.0, shelf_y - h * 0.45),
                            (x + 52.0, shelf_y),
                            (x, shelf_y),
                        ],
                        liquid,
                    );
                }
                1 => {
                    // Test tube rack.
                    for t in 0..3 {
                        let tx = x + t as f32 * 16.0;
                        c.round_rect(tx, shelf_y - h, 12.0, h, 6.0, [235, 245, 250]);
                        c.round_rect(tx, shelf_y - h * 0.5, 12.0, h * 0.5, 6.0, liquid);
                    }
                }
                _ => {
                    // Round-bottom flask.
                    c.rect(x + 20.0, shelf_y - h, 12.0, h * 0.5, [235, 245, 250]);
                    c.circle(x + 26.0, shelf_y - 26.0, 26.0, [235, 245, 250]);
                    c.circle(x + 26.0, shelf_y - 20.0, 20.0, liquid);
                }
            }
            x += 70.0 + c.rng.unit() * 40.0;
        }
    }
    c.rect(0.0, 880.0, 1024.0, 144.0, [60, 72, 80]);
}

fn coding_desk(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [36, 44, 70], [22, 26, 44]);
    c.radial_glow(820.0, 180.0, 260.0, [255, 214, 140], 90);
    for (mx, my) in [(70.0, 300.0), (660.0, 300.0)] {
        c.round_rect(mx - 12.0, my - 12.0, 320.0, 224.0, 14.0, [18, 18, 24]);
        c.rect(mx, my, 296.0, 200.0, [30, 34, 48]);
        let mut ly = my + 16.0;
        while ly < my + 188.0 {
            let indent = c.rng.pick(&[0.0f32, 20.0, 40.0]);
            let mut lx = mx + 14.0 + indent;
            let segments = 1 + c.rng.next() % 3;
            for _ in 0..segments {
                let w = 30.0 + c.rng.unit() * 70.0;
                if lx + w > mx + 284.0 {
                    break;
                }
                let col = c.rng.pick(&[
                    [120u8, 200, 255],
                    [250, 180, 100],
                    [160, 230, 140],
                    [230, 130, 200],
                    [200, 200, 210],
                ]);
                c.round_rect(lx, ly, w, 7.0, 3.5, col);
                lx += w + 10.0;
            }
            ly += 16.0;
        }
        c.rect(mx + 130.0, my + 212.0, 36.0, 60.0, [18, 18, 24]);
    }
    c.rect(0.0, 840.0, 1024.0, 184.0, [70, 52, 40]);
    c.rect(0.0, 840.0, 1024.0, 8.0, [98, 74, 56]);
}

fn art_studio(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [246, 232, 210], [222, 196, 164]);
    c.radial_glow(180.0, 160.0, 420.0, [255, 244, 214], 200);
    // Window.
    c.rect(70.0, 80.0, 250.0, 330.0, [255, 250, 236]);
    c.rect(190.0, 80.0, 10.0, 330.0, [200, 176, 140]);
    c.rect(70.0, 240.0, 250.0, 10.0, [200, 176, 140]);
    // Easel with a canvas of colour blobs.
    c.line(790.0, 180.0, 700.0, 900.0, [140, 96, 60], 255, 16.0);
    c.line(790.0, 180.0, 880.0, 900.0, [140, 96, 60], 255, 16.0);
    c.rect(680.0, 220.0, 230.0, 280.0, [252, 252, 248]);
    for _ in 0..7 {
        let col = c.rng.pick(&[
            [230u8, 90, 80],
            [70, 150, 220],
            [250, 200, 70],
            [100, 190, 120],
            [180, 100, 200],
        ]);
        let (x, y) = (700.0 + c.rng.unit() * 190.0, 240.0 + c.rng.unit() * 240.0);
        let r = 24.0 + c.rng.unit() * 30.0;
        c.circle_alpha(x, y, r, col, 210);
    }
    c.rect(660.0, 500.0, 270.0, 14.0, [120, 80, 50]);
    c.rect(0.0, 900.0, 1024.0, 124.0, [170, 130, 96]);
}

fn kitchen(c: &mut Canvas) {
    c.rect(0.0, 0.0, 1024.0, 1024.0, [244, 244, 240]);
    let mut row = 0;
    let mut y = 0.0;
    while y < 860.0 {
        let offset = if row % 2 == 0 { 0.0 } else { -40.0 };
        let mut x = offset;
        while x < 1024.0 {
            c.round_rect(x + 3.0, y + 3.0, 74.0, 34.0, 4.0, [232, 236, 236]);
            x += 80.0;
        }
        y += 40.0;
        row += 1;
    }
    c.rect(0.0, 120.0, 1024.0, 12.0, [90, 90, 96]);
    for (i, px) in [120.0f32, 260.0, 760.0, 900.0].iter().enumerate() {
        let r = 46.0 + (i % 2) as f32 * 14.0;
        c.line(*px, 132.0, *px, 200.0, [90, 90, 96], 255, 5.0);
        c.circle(*px, 200.0 + r, r, [196, 110, 60]);
        c.circle(*px, 200.0 + r, r * 0.72, [222, 140, 84]);
        c.line(
            *px,
            200.0 + 2.0 * r,
            *px,
            200.0 + 2.0 * r + 60.0,
            [120, 70, 40],
            255,
            10.0,
        );
    }
    c.rect(0.0, 860.0, 1024.0, 164.0, [150, 156, 160]);
    c.rect(0.0, 860.0, 1024.0, 12.0, [190, 196, 200]);
}

fn clinic(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [220, 236, 246], [192, 214, 232]);
    // Window with blinds.
    c.rect(620.0, 110.0, 320.0, 380.0, [250, 252, 255]);
    let mut y = 118.0;
    while y < 480.0 {
        c.rect(628.0, y, 304.0, 12.0, [214, 224, 232]);
        y += 22.0;
    }
    // Plant.
    c.round_rect(90.0, 640.0, 120.0, 140.0, 16.0, [220, 120, 90]);
    for (dx, dy, r) in [
        (150.0, 560.0, 60.0),
        (110.0, 600.0, 48.0),
        (196.0, 596.0, 50.0),
        (150.0, 500.0, 44.0),
    ] {
        c.circle(dx, dy, r, [90, 160, 100]);
    }
    // Medical cross sign.
    c.round_rect(110.0, 150.0, 150.0, 150.0, 20.0, [255, 255, 255]);
    c.rect(165.0, 175.0, 40.0, 100.0, [220, 70, 80]);
    c.rect(135.0, 205.0, 100.0, 40.0, [220, 70, 80]);
    c.rect(0.0, 900.0, 1024.0, 124.0, [170, 190, 204]);
}

fn classroom(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [240, 226, 196], [214, 196, 160]);
    c.rect(70.0, 110.0, 884.0, 500.0, [150, 104, 64]);
    c.rect(90.0, 130.0, 844.0, 460.0, [46, 88, 70]);
    // Chalk: an equation-like row of strokes and a sketch of a graph.
    let mut x = 130.0;
    while x < 500.0 {
        let w = 20.0 + c.rng.unit() * 40.0;
        let tilt = c.rng.unit() * 10.0 - 5.0;
        c.line(x, 190.0, x + w, 190.0 + tilt, [236, 240, 232], 230, 5.0);
        x += w + 18.0;
    }
    c.line(130.0, 260.0, 460.0, 260.0, [236, 240, 232], 200, 4.0);
    c.line(700.0, 520.0, 700.0, 170.0, [236, 240, 232], 220, 4.0);
    c.line(700.0, 520.0, 900.0, 520.0, [236, 240, 232], 220, 4.0);
    let mut pb = PathBuilder::new();
    pb.move_to(700.0, 500.0);
    pb.cubic_to(760.0, 480.0, 800.0, 300.0, 890.0, 200.0);
    c.stroke(pb.finish(), [250, 230, 120], 230, 5.0);
    c.rect(90.0, 590.0, 844.0, 18.0, [190, 150, 110]);
    c.rect(0.0, 900.0, 1024.0, 124.0, [150, 110, 80]);
}

fn library(c: &mut Canvas) {
    c.rect(0.0, 0.0, 1024.0, 1024.0, [92, 60, 40]);
    let mut shelf_y = 60.0;
    while shelf_y < 900.0 {
        let mut x = 20.0;
        while x < 1004.0 {
            let w = 18.0 + c.rng.unit() * 22.0;
            let h = 110.0 + c.rng.unit() * 50.0;
            let col = c.rng.pick(&[
                [150u8, 40, 40],
                [40, 70, 120],
                [50, 110, 70],
                [190, 150, 60],
                [110, 60, 110],
                [200, 190, 170],
                [30, 30, 40],
            ]);
            c.rect(x, shelf_y + 170.0 - h, w.min(1004.0 - x), h, col);
            c.rect(
                x + 3.0,
                shelf_y + 190.0 - h,
                (w - 6.0).max(1.0),
                6.0,
                shade(col, 0.35),
            );
            x += w + 2.0;
        }
        c.rect(0.0, shelf_y + 170.0, 1024.0, 22.0, [120, 82, 54]);
        shelf_y += 200.0;
    }
    c.radial_glow(512.0, 420.0, 520.0, [255, 220, 160], 70);
}

fn workshop(c: &mut Canvas) {
    c.rect(0.0, 0.0, 1024.0, 1024.0, [196, 160, 118]);
    let mut y = 40.0;
    while y < 860.0 {
        let mut x = 40.0;
        while x < 1000.0 {
            c.circle(x, y, 4.0, [150, 118, 84]);
            x += 40.0;
        }
        y += 40.0;
    }
    // Tools: wrench, hammer, saw, screwdriver silhouettes.
    let tool = [70u8, 74, 82];
    c.line(120.0, 120.0, 120.0, 380.0, tool, 255, 18.0);
    c.circle(120.0, 110.0, 30.0, tool);
    c.circle(120.0, 104.0, 14.0, [196, 160, 118]);
    c.line(860.0, 140.0, 860.0, 400.0, [150, 100, 60], 255, 20.0);
    c.round_rect(800.0, 110.0, 120.0, 44.0, 8.0, tool);
    c.polygon(
        &[
            (200.0, 520.0),
            (380.0, 520.0),
            (380.0, 600.0),
            (200.0, 560.0),
        ],
        [180, 186, 196],
    );
    c.round_rect(150.0, 500.0, 60.0, 90.0, 16.0, [180, 60, 50]);
    c.line(900.0, 520.0, 900.0, 700.0, [200, 200, 206], 255, 8.0);
    c.round_rect(884.0, 440.0, 32.0, 90.0, 12.0, [230, 170, 40]);
    c.rect(0.0, 880.0, 1024.0, 144.0, [110, 84, 60]);
}

fn greenhouse(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [214, 236, 222], [176, 210, 186]);
    for i in 0..6 {
        let x = 40.0 + i as f32 * 180.0;
        c.rect(x, 0.0, 8.0, 880.0, [236, 246, 240]);
    }
    c.rect(0.0, 300.0, 1024.0, 8.0, [236, 246, 240]);
    for _ in 0..40 {
        let (x, y) = (c.rng.unit() * 1024.0, 380.0 + c.rng.unit() * 520.0);
        let green = c.rng.pick(&[
            [70u8, 140, 80],
            [90, 170, 90],
            [50, 120, 70],
            [120, 180, 100],
        ]);
        let (rx, ry) = (30.0 + c.rng.unit() * 40.0, 14.0 + c.rng.unit() * 14.0);
        c.oval(x, y, rx, ry, green);
    }
    for (x, col) in [
        (150.0, [240u8, 120, 150]),
        (880.0, [250, 200, 80]),
        (300.0, [250, 250, 250]),
    ] {
        c.circle(x, 420.0, 16.0, col);
    }
    c.rect(0.0, 900.0, 1024.0, 124.0, [120, 96, 72]);
}

fn stage(c: &mut Canvas) {
    c.rect(0.0, 0.0, 1024.0, 1024.0, [90, 16, 28]);
    let mut x = 0.0;
    while x < 1024.0 {
        c.rect(x, 0.0, 32.0, 1024.0, [120, 24, 40]);
        c.rect(x + 32.0, 0.0, 12.0, 1024.0, [70, 10, 22]);
        x += 64.0;
    }
    c.rect(0.0, 0.0, 1024.0, 90.0, [140, 30, 46]);
    c.radial_glow(512.0, 420.0, 460.0, [255, 230, 170], 150);
    c.polygon(
        &[(460.0, 0.0), (564.0, 0.0), (800.0, 1024.0), (224.0, 1024.0)],
        [255, 240, 200],
    );
    c.rect_alpha(0.0, 0.0, 1024.0, 1024.0, [90, 16, 28], 150);
    c.rect(0.0, 900.0, 1024.0, 124.0, [60, 40, 30]);
}

fn sky(c: &mut Canvas) {
    c.vertical_gradient(0.0, 1024.0, [84, 150, 220], [196, 226, 246]);
    for _ in 0..5 {
        let (x, y) = (c.rng.unit() * 1024.0, 80.0 + c.rng.unit() * 420.0);
        for (dx, dy, r) in [
            (0.0, 0.0, 50.0),
            (50.0, -20.0, 60.0),
            (110.0, 0.0, 46.0),
            (55.0, 15.0, 50.0),
        ] {
            c.circle_alpha(x + dx, y + dy, r, [255, 255, 255], 230);
        }
    }
    c.rect(0.0, 800.0, 1024.0, 224.0, [110, 150, 90]);
    c.rect(0.0, 860.0, 1024.0, 164.0, [90, 92, 98]);
    let mut x = 20.0;
    while x < 1024.0 {
        c.rect(x, 930.0, 60.0, 10.0, [240, 240, 240]);
        x += 110.0;
    }
}

// ---------------------------------------------------------------------------------------------
// The figure

/// How much the figure is enlarged about the bottom centre: a headshot's face fills more of the
/// frame than the design space's 1:1 layout gives, and a larger face still reads at 256 px.
const FIGURE_SCALE: f32 = 1.1;

fn draw_figure(c: &mut Canvas, attire: Attire, look: &Look) {
    // Soft shadow behind the figure.
    c.radial_glow(512.0, 760.0, 420.0, [0, 0, 0], 60);
    let zoom = Transform::from_translate(512.0, 1024.0)
        .pre_scale(FIGURE_SCALE, FIGURE_SCALE)
        .pre_translate(-512.0, -1024.0);
    let shoulders = zoom.pre_concat(Transform::from_rotate_at(look.shoulder_tilt, 512.0, 1024.0));
    let head = shoulders.pre_concat(Transform::from_rotate_at(look.head_tilt, 512.0, 660.0));
    c.local = head;
    person::back_hair(c, look);
    person::neck(c, look);
    c.local = shoulders;
    draw_body(c, attire);
    draw_collar_details(c, attire);
    c.local = head;
    person::head(c, look);
    c.local = Transform::identity();
}

/// Shoulders and chest: the trapezius slopes from the base of the neck to rounded shoulders,
/// then the arms fall straight out of the frame.
fn torso_path() -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(96.0, 1024.0);
    pb.cubic_to(98.0, 900.0, 130.0, 808.0, 250.0, 776.0);
    pb.cubic_to(320.0, 758.0, 392.0, 728.0, 430.0, 690.0);
    pb.line_to(594.0, 690.0);
    pb.cubic_to(632.0, 728.0, 704.0, 758.0, 774.0, 776.0);
    pb.cubic_to(894.0, 808.0, 926.0, 900.0, 928.0, 1024.0);
    pb.close();
    pb.finish()
}

struct Outfit {
    main: Rgb,
    shirt: Rgb,
    accent: Rgb,
}

fn outfit(attire: Attire) -> Outfit {
    match attire {
        Attire::NavySuit => Outfit {
            main: [34, 48, 84],
            shirt: [248, 248, 250],
            accent: [170, 40, 56],
        },
        Attire::CharcoalSuit => Outfit {
            main: [58, 60, 66],
            shirt: [244, 244, 246],
            accent: [120, 90, 160],
        },
        Attire::Blazer => Outfit {
            main: [184, 140, 92],
            shirt: [214, 232, 246],
            accent: [214, 232, 246],
        },
        Attire::LabCoat => Outfit {
            main: [246, 248, 250],
            shirt: [120, 160, 214],
            accent: [40, 80, 160],
        },
        Attire::Hoodie => Outfit {
            main: [120, 126, 136],
            shirt: [40, 44, 52],
            accent: [236, 236, 236],
        },
        Attire::Cardigan => Outfit {
            main: [150, 80, 70],
            shirt: [236, 230, 214],
            accent: [230, 210, 170],
        },
        Attire::ChefWhites => Outfit {
            main: [250, 250, 248],
            shirt: [250, 250, 248],
            accent: [200, 50, 50],
        },
        Attire::Scrubs => Outfit {
            main: [40, 140, 140],
            shirt: [30, 110, 112],
            accent: [250, 250, 250],
        },
        Attire::WorkApron => Outfit {
            main: [176, 58, 50],
            shirt: [176, 58, 50],
            accent: [150, 126, 90],
        },
        Attire::PilotUniform => Outfit {
            main: [26, 32, 56],
            shirt: [248, 248, 250],
            accent: [226, 184, 70],
        },
        Attire::Turtleneck => Outfit {
            main: [28, 28, 32],
            shirt: [28, 28, 32],
            accent: [60, 60, 66],
        },
    }
}

fn draw_body(c: &mut Canvas, attire: Attire) {
    let o = outfit(attire);
    c.fill_rgb(torso_path(), o.main);
    // Shoulder highlight for volume.
    c.radial_glow(330.0, 760.0, 200.0, [255, 255, 255], 28);
    c.radial_glow(694.0, 760.0, 200.0, [255, 255, 255], 28);
    match attire {
        Attire::NavySuit | Attire::CharcoalSuit | Attire::PilotUniform => {
            suit(c, &o, attire == Attire::PilotUniform)
        }
        Attire::Blazer => blazer(c, &o),
        Attire::LabCoat => lab_coat(c, &o),
        Attire::Hoodie => hoodie(c, &o),
        Attire::Cardigan => cardigan(c, &o),
        Attire::ChefWhites => chef(c, &o),
        Attire::Scrubs => scrubs(c, &o),
        Attire::WorkApron => apron(c, &o),
        Attire::Turtleneck => turtleneck(c, &o),
    }
}

fn shirt_v(c: &mut Canvas, colour: Rgb, depth: f32) {
    c.polygon(
        &[(430.0, 690.0), (594.0, 690.0), (512.0, 690.0 + depth)],
        colour,
    );
}

fn lapels(c: &mut Canvas, colour: Rgb, depth: f32) {
    c.polygon(
        &[
            (420.0, 688.0),
            (512.0, 690.0 + depth),
            (470.0, 690.0 + depth + 40.0),
            (380.0, 760.0),
        ],
        colour,
    );
    c.polygon(
        &[
            (604.0, 688.0),
            (512.0, 690.0 + depth),
            (554.0, 690.0 + depth + 40.0),
            (644.0, 760.0),
        ],
        colour,
    );
}

fn suit(c: &mut Canvas, o: &Outfit, pilot: bool) {
    shirt_v(c, o.shirt, 230.0);
    // Tie.
    c.polygon(
        &[
            (498.0, 712.0),
            (526.0, 712.0),
            (520.0, 730.0),
            (504.0, 730.0),
        ],
        shade(o.accent, -0.2),
    );
    c.polygon(
        &[
            (504.0, 728.0),
            (520.0, 728.0),
            (536.0, 880.0),
            (512.0, 910.0),
            (488.0, 880.0),
        ],
        o.accent,
    );
    lapels(c, shade(o.main, -0.25), 230.0);
    c.circle(512.0, 960.0, 8.0, shade(o.main, -0.4));
    c.line(700.0, 850.0, 770.0, 846.0, shade(o.main, 0.15), 200, 6.0);
    if pilot {
        // Epaulettes and wings.
        c.round_rect(220.0, 742.0, 120.0, 30.0, 6.0, o.accent);
        c.round_rect(684.0, 742.0, 120.0, 30.0, 6.0, o.accent);
        for dx in [0.0, 30.0, 60.0] {
            c.line(
                240.0 + dx,
                748.0,
                240.0 + dx,
                766.0,
                shade(o.accent, -0.3),
                255,
                4.0,
            );
            c.line(
                704.0 + dx,
                748.0,
                704.0 + dx,
                766.0,
                shade(o.accent, -0.3),
                255,
                4.0,
            );
        }
        c.polygon(&[(640.0, 840.0), (740.0, 826.0), (700.0, 850.0)], o.accent);
        c.polygon(&[(640.0, 840.0), (560.0, 826.0), (590.0, 850.0)], o.accent);
        c.circle(640.0, 842.0, 10.0, o.accent);
    } else {
        // Pocket square.
        c.polygon(
            &[(700.0, 846.0), (722.0, 826.0), (740.0, 846.0)],
            [250, 250, 250],
        );
    }
}

fn blazer(c: &mut Canvas, o: &Outfit) {
    shirt_v(c, o.shirt, 200.0);
    // Open collar points.
    c.polygon(
        &[(440.0, 690.0), (512.0, 760.0), (470.0, 780.0)],
        shade(o.shirt, -0.1),
    );
    c.polygon(
        &[(584.0, 690.0), (512.0, 760.0), (554.0, 780.0)],
        shade(o.shirt, -0.1),
    );
    lapels(c, shade(o.main, -0.18), 200.0);
    c.circle(512.0, 950.0, 9.0, [90, 60, 40]);
}

fn lab_coat(c: &mut Canvas, o: &Outfit) {
    shirt_v(c, o.shirt, 190.0);
    c.polygon(
        &[
            (496.0, 720.0),
            (528.0, 720.0),
            (540.0, 860.0),
            (512.0, 880.0),
            (484.0, 860.0),
        ],
        [60, 60, 90],
    );
    lapels(c, [222, 226, 232], 200.0);
    // Breast pocket with pens.
    c.line(660.0, 832.0, 662.0, 806.0, [40, 80, 160], 255, 8.0);
    c.line(680.0, 832.0, 684.0, 810.0, [200, 50, 50], 255, 8.0);
    c.round_rect(640.0, 826.0, 80.0, 70.0, 6.0, [232, 236, 240]);
    c.line(644.0, 830.0, 716.0, 830.0, [210, 214, 222], 255, 3.0);
    // ID badge.
    c.round_rect(330.0, 830.0, 70.0, 90.0, 8.0, [250, 250, 250]);
    c.rect(340.0, 842.0, 50.0, 34.0, [120, 170, 220]);
    c.rect(340.0, 884.0, 50.0, 6.0, [150, 150, 160]);
    c.rect(340.0, 896.0, 36.0, 6.0, [150, 150, 160]);
    c.line(512.0, 900.0, 512.0, 1024.0, [214, 218, 226], 255, 4.0);
}

fn hoodie(c: &mut Canvas, o: &Outfit) {
    // Hood folded behind the neck.
    c.oval(512.0, 700.0, 150.0, 52.0, shade(o.main, -0.2));
    shirt_v(c, o.shirt, 110.0);
    c.line(476.0, 720.0, 466.0, 860.0, o.accent, 255, 8.0);
    c.line(548.0, 720.0, 558.0, 860.0, o.accent, 255, 8.0);
    c.circle(466.0, 866.0, 8.0, shade(o.accent, -0.2));
    c.circle(558.0, 866.0, 8.0, shade(o.accent, -0.2));
    // Kangaroo pocket.
    c.round_rect(372.0, 930.0, 280.0, 120.0, 30.0, shade(o.main, -0.1));
}

fn cardigan(c: &mut Canvas, o: &Outfit) {
    shirt_v(c, o.shirt, 300.0);
    c.polygon(
        &[(450.0, 690.0), (512.0, 730.0), (480.0, 760.0)],
        shade(o.shirt, -0.08),
    );
    c.polygon(
        &[(574.0, 690.0), (512.0, 730.0), (544.0, 760.0)],
        shade(o.shirt, -0.08),
    );
    c.line(512.0, 990.0, 512.0, 1024.0, shade(o.main, -0.3), 255, 6.0);
    c.circle(530.0, 1000.0, 8.0, o.accent);
    // Knit ribbing lines.
    let mut x = 200.0;
    while x < 830.0 {
        c.line(x, 980.0, x, 1024.0, shade(o.main, -0.15), 255, 4.0);
        x += 18.0;
    }
}

fn chef(c: &mut Canvas, o: &Outfit) {
    c.polygon(
        &[
            (420.0, 690.0),
            (604.0, 690.0),
            (640.0, 760.0),
            (512.0, 720.0),
            (384.0, 760.0),
        ],
        shade(o.main, -0.06),
    );
    // Neckerchief.
    c.polygon(&[(460.0, 696.0), (564.0, 696.0), (512.0, 760.0)], o.accent);
    for (x, y) in [
        (570.0, 800.0),
        (570.0, 870.0),
        (570.0, 940.0),
        (650.0, 800.0),
        (650.0, 870.0),
        (650.0, 940.0),
    ] {
        c.circle(x, y, 10.0, [200, 200, 196]);
    }
    c.line(610.0, 760.0, 610.0, 1024.0, [226, 226, 222], 255, 4.0);
}

fn scrubs(c: &mut Canvas, o: &Outfit) {
    c.polygon(&[(440.0, 690.0), (584.0, 690.0), (512.0, 800.0)], o.shirt);
    c.line(440.0, 690.0, 512.0, 800.0, shade(o.main, -0.3), 255, 6.0);
    c.line(584.0, 690.0, 512.0, 800.0, shade(o.main, -0.3), 255, 6.0);
    // Stethoscope.
    let mut pb = PathBuilder::new();
    pb.move_to(420.0, 700.0);
    pb.cubic_to(400.0, 820.0, 460.0, 880.0, 512.0, 880.0);
    pb.cubic_to(564.0, 880.0, 624.0, 820.0, 604.0, 700.0);
    c.stroke(pb.finish(), [40, 44, 52], 255, 10.0);
    c.line(512.0, 880.0, 512.0, 930.0, [40, 44, 52], 255, 10.0);
    c.circle(512.0, 946.0, 20.0, [190, 196, 206]);
    c.circle(512.0, 946.0, 10.0, [120, 126, 136]);
    c.rect(640.0, 860.0, 90.0, 80.0, shade(o.main, -0.1));
}

fn apron(c: &mut Canvas, o: &Outfit) {
    // Plaid shirt.
    let mut x = 170.0;
    while x < 860.0 {
        c.rect_alpha(x, 690.0, 10.0, 334.0, [40, 30, 30], 70);
        x += 44.0;
    }
    let mut y = 720.0;
    while y < 1024.0 {
        c.rect_alpha(150.0, y, 724.0, 10.0, [40, 30, 30], 70);
        y += 44.0;
    }
    c.polygon(
        &[(450.0, 690.0), (574.0, 690.0), (512.0, 740.0)],
        shade(o.main, -0.2),
    );
    // Apron bib and straps.
    c.round_rect(380.0, 790.0, 264.0, 260.0, 20.0, o.accent);
    c.line(400.0, 800.0, 440.0, 690.0, shade(o.accent, -0.2), 255, 16.0);
    c.line(624.0, 800.0, 584.0, 690.0, shade(o.accent, -0.2), 255, 16.0);
    c.round_rect(440.0, 880.0, 144.0, 80.0, 10.0, shade(o.accent, -0.12));
    c.line(480.0, 880.0, 480.0, 850.0, [200, 160, 60], 255, 8.0);
    c.line(540.0, 880.0, 546.0, 840.0, [90, 90, 96], 255, 6.0);
}

fn turtleneck(c: &mut Canvas, o: &Outfit) {
    c.round_rect(430.0, 640.0, 164.0, 80.0, 30.0, shade(o.main, 0.08));
    for dy in [660.0, 680.0, 700.0] {
        c.line(440.0, dy, 584.0, dy, shade(o.main, 0.18), 255, 3.0);
    }
}

fn draw_collar_details(c: &mut Canvas, attire: Attire) {
    if matches!(
        attire,
        Attire::NavySuit | Attire::CharcoalSuit | Attire::PilotUniform
    ) {
        c.polygon(
            &[(452.0, 684.0), (512.0, 712.0), (476.0, 730.0)],
            [236, 236, 240],
        );
        c.polygon(
            &[(572.0, 684.0), (512.0, 712.0), (548.0, 730.0)],
            [236, 236, 240],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::look::sample_analysis;
    use super::*;

    const SCENES: [Scene; 12] = [
        Scene::CornerOffice,
        Scene::Laboratory,
        Scene::CodingDesk,
        Scene::ArtStudio,
        Scene::Kitchen,
        Scene::Clinic,
        Scene::Classroom,
        Scene::Library,
        Scene::Workshop,
        Scene::Greenhouse,
        Scene::Stage,
        Scene::Sky,
    ];
    const ATTIRES: [Attire; 11] = [
        Attire::NavySuit,
        Attire::CharcoalSuit,
        Attire::Blazer,
        Attire::LabCoat,
        Attire::Hoodie,
        Attire::Cardigan,
        Attire::ChefWhites,
        Attire::Scrubs,
        Attire::WorkApron,
        Attire::PilotUniform,
        Attire::Turtleneck,
    ];

    fn portrait(size: u32, scene: Scene, attire: Attire, species: &str) -> Portrait {
        let analysis = sample_analysis(species, "unknown", &["#b48250", "#3c281e"]);
        Portrait {
            size,
            scene,
            attire,
            look: Look::from_analysis(&analysis),
            seed: analysis_seed(&analysis),
        }
    }

    #[test]
    fn renders_every_scene_and_attire_opaque() {
        for (i, scene) in SCENES.into_iter().enumerate() {
            let species = ["cat", "dog", "rabbit", "bird", "fish", "other_animal"][i % 6];
            let pixmap = render(&portrait(256, scene, ATTIRES[i % ATTIRES.len()], species))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                pixmap.pixels().iter().all(|p| p.alpha() == 255),
                "{scene:?} left transparent pixels"
            );
        }
        for attire in ATTIRES {
            render(&portrait(128, Scene::Clinic, attire, "dog")).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// The 256 px render and the 1024 px render brought down to 256 px are one picture (mean
    /// difference of a few levels: only anti-aliasing differs).
    #[test]
    fn every_size_draws_the_same_picture() {
        let small = render(&portrait(256, Scene::Library, Attire::Cardigan, "cat")).unwrap();
        let large = render(&portrait(1024, Scene::Library, Attire::Cardigan, "cat")).unwrap();
        let mut total = 0u64;
        for y in 0..256u32 {
            for x in 0..256u32 {
                let mut sum = [0u32; 3];
                for dy in 0..4 {
                    for dx in 0..4 {
                        let p = large.pixel(x * 4 + dx, y * 4 + dy).unwrap();
                        sum[0] += u32::from(p.red());
                        sum[1] += u32::from(p.green());
                        sum[2] += u32::from(p.blue());
                    }
                }
                let q = small.pixel(x, y).unwrap();
                total += u64::from((sum[0] / 16).abs_diff(u32::from(q.red())))
                    + u64::from((sum[1] / 16).abs_diff(u32::from(q.green())))
                    + u64::from((sum[2] / 16).abs_diff(u32::from(q.blue())));
            }
        }
        let mean = total as f64 / (256.0 * 256.0 * 3.0);
        assert!(mean < 6.0, "mean difference {mean}");
    }

    #[test]
    fn the_same_analysis_draws_the_same_png() {
        let a = render_png(&portrait(256, Scene::Stage, Attire::Blazer, "dog")).unwrap();
        let b = render_png(&portrait(256, Scene::Stage, Attire::Blazer, "dog")).unwrap();
        assert!(a == b);
    }

    /// Pets that differ in species, breed, coat, expression, posture and scores give people who
    /// differ in face, hair, eyes, skin and pose: over 24 analyses, every feature takes several
    /// values and almost every person is unique.
    #[test]
    fn different_analyses_give_varied_people() {
        use crate::personality::{DIMENSION_COUNT, Personality};
        use std::collections::BTreeSet;
        let species = ["cat", "dog", "rabbit", "bird", "horse", "other_animal"];
        let expressions = [
            "alert and attentive",
            "soft and friendly",
            "intense and serious",
            "pensive",
            "calm and curious",
        ];
        let postures = [
            "centred close-up, facing the camera",
            "off-centre, turned slightly away",
            "relaxed, sprawled across the frame",
        ];
        let palettes = [
            ["#1a1a1a", "#d8d0c0"],
            ["#c0702e", "#f0d8b0"],
            ["#e8dcc8", "#4a3a30"],
            ["#8a7050", "#2a2018"],
            ["#f4f4f0", "#999999"],
            ["#6a5440", "#6a5440"],
        ];
        let mut looks = Vec::new();
        for i in 0..24usize {
            let mut a = sample_analysis(species[i % 6], "mixed", &palettes[(i / 2) % 6]);
            a.expression = expressions[i % 5].into();
            a.posture = postures[i % 3].into();
            let mut scores = [50u8; DIMENSION_COUNT];
            for (d, s) in scores.iter_mut().enumerate() {
                *s = (20 + (d * 7 + i * 13) % 61) as u8;
            }
            a.personality = Personality::from_scores(scores);
            looks.push(Look::from_analysis(&a));
        }
        let count =
            |f: &dyn Fn(&Look) -> String| looks.iter().map(f).collect::<BTreeSet<_>>().len();
        assert!(count(&|l| format!("{:?}", l.face)) >= 3);
        assert!(count(&|l| format!("{:?}", l.style)) >= 4);
        assert!(count(&|l| format!("{:?}", l.texture)) >= 2);
        assert!(count(&|l| format!("{:?}", l.hair)) >= 5);
        assert!(count(&|l| format!("{:?}", l.skin)) >= 4);
        assert!(count(&|l| format!("{:?}", l.eyes)) >= 3);
        assert!(count(&|l| format!("{:.1}", l.smile)) >= 3);
        assert!(count(&|l| format!("{:.0}", l.head_tilt)) >= 3);
        assert!(count(&|l| format!("{l:?}")) >= 23);
    }

    #[test]
    fn different_pets_give_different_people() {
        let a = sample_analysis("cat", "unknown", &["#202020"]);
        let b = sample_analysis("dog", "golden retriever", &["#d0a060", "#f0e0c0"]);
        assert_ne!(Look::from_analysis(&a), Look::from_analysis(&b));
    }
}
