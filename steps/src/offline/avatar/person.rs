//! The person: neck, ears, face, eyes, brows, nose, mouth, hair (behind and in front), facial
//! hair and glasses, in the 1024-unit design space. The head is drawn around (`HX`, `HY`); the
//! caller sets the head's tilt as the canvas transform.

use tiny_skia::{FillRule, Mask, Paint, Path, PathBuilder};

use super::look::{FacialHair, Glasses, HairStyle, Look, Texture};
use super::{Canvas, Rgb, SplitMix, mix, radial, shade, solid, stop, vertical};

pub const HX: f32 = 512.0;
pub const HY: f32 = 420.0;

/// The face's proportions for one look.
struct Face {
    /// Half-width at the cheekbones.
    w: f32,
    jaw: f32,
    chin: f32,
    /// Vertical scale.
    l: f32,
    /// Horizontal offset of the features (a face turned slightly to one side).
    turn: f32,
}

impl Face {
    fn of(look: &Look) -> Face {
        let (w, jaw, chin, l) = look.face.geometry();
        Face {
            w,
            jaw,
            chin,
            l,
            turn: look.turn,
        }
    }

    /// The outline as a closed smooth path (right side points mirrored, squeezed on the side the
    /// face turns away from).
    fn outline(&self) -> Option<Path> {
        let right = [
            (0.0, -170.0),
            (0.74, -150.0),
            (0.97, -82.0),
            (1.0, 0.0),
            (0.96, 52.0),
            (self.jaw, 112.0),
            (self.chin * 1.35, 160.0),
            (self.chin * 0.55, 180.0),
        ];
        let squeeze = self.turn / 260.0;
        let mut points: Vec<(f32, f32)> = right
            .iter()
            .map(|&(x, y)| (HX + x * self.w * (1.0 - squeeze), HY + y * self.l))
            .collect();
        points.push((HX + self.turn * 0.25, HY + 184.0 * self.l));
        points.extend(
            right
                .iter()
                .rev()
                .filter(|(x, _)| *x > 0.0)
                .map(|&(x, y)| (HX - x * self.w * (1.0 + squeeze), HY + y * self.l)),
        );
        smooth_closed(&points)
    }

    fn eye_y(&self) -> f32 {
        HY + 14.0 * self.l
    }

    fn mouth_y(&self) -> f32 {
        HY + 114.0 * self.l
    }
}

/// A closed Catmull-Rom spline through `points`, as cubic Béziers.
fn smooth_closed(points: &[(f32, f32)]) -> Option<Path> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let at = |i: isize| points[i.rem_euclid(n as isize) as usize];
    let mut pb = PathBuilder::new();
    pb.move_to(points[0].0, points[0].1);
    for i in 0..n as isize {
        let (p0, p1, p2, p3) = (at(i - 1), at(i), at(i + 1), at(i + 2));
        pb.cubic_to(
            p1.0 + (p2.0 - p0.0) / 6.0,
            p1.1 + (p2.1 - p0.1) / 6.0,
            p2.0 - (p3.0 - p1.0) / 6.0,
            p2.1 - (p3.1 - p1.1) / 6.0,
            p2.0,
            p2.1,
        );
    }
    pb.close();
    pb.finish()
}

fn gradient_paint(shader: Option<tiny_skia::Shader<'static>>) -> Option<Paint<'static>> {
    shader.map(|shader| Paint {
        shader,
        anti_alias: true,
        ..Paint::default()
    })
}

impl Canvas {
    fn fill_shader(&mut self, path: Option<Path>, shader: Option<tiny_skia::Shader<'static>>) {
        if let Some(paint) = gradient_paint(shader) {
            self.fill(path, &paint);
        }
    }

    /// A mask of `path` in pixel space (under the current transform).
    fn mask_of(&self, path: &Path) -> Option<Mask> {
        let mut mask = Mask::new(self.pixmap.width(), self.pixmap.height())?;
        mask.fill_path(path, FillRule::Winding, true, self.transform());
        Some(mask)
    }

    fn fill_masked(&mut self, path: Option<Path>, paint: &Paint, mask: Option<&Mask>) {
        if let Some(path) = path {
            let t = self.transform();
            self.pixmap
                .fill_path(&path, paint, FillRule::Winding, t, mask);
        }
    }

    fn curve(&mut self, pts: [(f32, f32); 3], c: Rgb, alpha: u8, width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(pts[0].0, pts[0].1);
        pb.quad_to(pts[1].0, pts[1].1, pts[2].0, pts[2].1);
        self.stroke(pb.finish(), c, alpha, width);
    }
}

fn oval_path(cx: f32, cy: f32, rx: f32, ry: f32) -> Option<Path> {
    tiny_skia::Rect::from_ltrb(cx - rx, cy - ry, cx + rx, cy + ry).and_then(PathBuilder::from_oval)
}

// ---------------------------------------------------------------------------------------------
// Behind the head

/// Hair that falls behind the head and neck (long styles, the bun, an afro's volume).
pub fn back_hair(c: &mut Canvas, look: &Look) {
    let f = Face::of(look);
    let hair = look.hair;
    let shader = |top: f32, bottom: f32| {
        vertical(
            top,
            bottom,
            vec![
                stop(0.0, shade(hair, 0.08), 255),
                stop(1.0, shade(hair, -0.3), 255),
            ],
        )
    };
    match look.style {
        HairStyle::Bob => {
            let path = round_blob(HX, HY - 20.0, f.w + 34.0, 150.0, HY + 130.0);
            c.fill_shader(path, shader(HY - 200.0, HY + 140.0));
        }
        HairStyle::Shoulder => {
            let path = round_blob(HX, HY - 10.0, f.w + 40.0, 170.0, HY + 250.0);
            c.fill_shader(path, shader(HY - 200.0, HY + 260.0));
        }
        HairStyle::Long => {
            let path = round_blob(HX, HY, f.w + 46.0, 185.0, HY + 420.0);
            c.fill_shader(path, shader(HY - 200.0, HY + 420.0));
        }
        HairStyle::Bun => {
            let bx = HX + look.side * 18.0;
            c.fill_shader(
                oval_path(bx, HY - 205.0 * f.l, 62.0, 54.0),
                shader(HY - 260.0, HY - 150.0),
            );
            let mut rng = SplitMix(look.seed);
            for i in 0..7 {
                let a = i as f32 * 0.9 + rng.unit() * 0.3;
                c.curve(
                    [
                        (bx - 40.0 * a.cos(), HY - 205.0 - 30.0 * a.sin()),
                        (bx, HY - 250.0 + rng.unit() * 20.0),
                        (bx + 44.0 * a.sin(), HY - 190.0),
                    ],
                    shade(hair, -0.25),
                    70,
                    3.0,
                );
            }
        }
        HairStyle::Afro => {
            let path = bumpy_ellipse(HX, HY - 70.0, f.w + 78.0, 215.0, 26, 14.0);
            c.fill_shader(path, shader(HY - 290.0, HY + 150.0));
        }
        HairStyle::Buzz | HairStyle::Crop | HairStyle::SidePart | HairStyle::Quiff => {}
    }
}

/// A rounded mass: an ellipse top (centre `cx, cy`, radii `rx, ry`) that falls straight down
/// to `bottom` with rounded ends.
fn round_blob(cx: f32, cy: f32, rx: f32, ry: f32, bottom: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.move_to(cx - rx, cy);
    pb.cubic_to(
        cx - rx,
        cy - ry * 0.55,
        cx - rx * 0.55,
        cy - ry,
        cx,
        cy - ry,
    );
    pb.cubic_to(
        cx + rx * 0.55,
        cy - ry,
        cx + rx,
        cy - ry * 0.55,
        cx + rx,
        cy,
    );
    pb.cubic_to(
        cx + rx * 1.02,
        bottom - 60.0,
        cx + rx * 0.9,
        bottom,
        cx + rx * 0.7,
        bottom,
    );
    pb.line_to(cx - rx * 0.7, bottom);
    pb.cubic_to(
        cx - rx * 0.9,
        bottom,
        cx - rx * 1.02,
        bottom - 60.0,
        cx - rx,
        cy,
    );
    pb.close();
    pb.finish()
}

/// An ellipse whose edge is a ring of bumps (curls).
fn bumpy_ellipse(cx: f32, cy: f32, rx: f32, ry: f32, bumps: usize, depth: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let point = |a: f32, out: f32| (cx + (rx + out) * a.cos(), cy + (ry + out) * a.sin());
    let (x0, y0) = point(0.0, 0.0);
    pb.move_to(x0, y0);
    for i in 0..bumps {
        let a0 = i as f32 / bumps as f32 * std::f32::consts::TAU;
        let a1 = (i + 1) as f32 / bumps as f32 * std::f32::consts::TAU;
        let (mx, my) = point((a0 + a1) / 2.0, depth * 2.0);
        let (x1, y1) = point(a1, 0.0);
        pb.quad_to(mx, my, x1, y1);
    }
    pb.close();
    pb.finish()
}

/// The neck, shaded darker under the jaw.
pub fn neck(c: &mut Canvas, look: &Look) {
    let f = Face::of(look);
    let half = f.w * 0.52;
    let top = HY + 100.0 * f.l;
    let mut pb = PathBuilder::new();
    pb.move_to(HX - half, top);
    pb.cubic_to(
        HX - half,
        top + 90.0,
        HX - half - 6.0,
        640.0,
        HX - half - 30.0,
        720.0,
    );
    pb.line_to(HX + half + 30.0, 720.0);
    pb.cubic_to(
        HX + half + 6.0,
        640.0,
        HX + half,
        top + 90.0,
        HX + half,
        top,
    );
    pb.close();
    let skin = look.skin;
    let shader = vertical(
        HY + 150.0 * f.l,
        HY + 250.0 * f.l,
        vec![
            stop(0.0, shade(skin, -0.38), 255),
            stop(1.0, shade(skin, -0.1), 255),
        ],
    );
    c.fill_shader(pb.finish(), shader);
}

// ---------------------------------------------------------------------------------------------
// The head

/// Ears, face and features, front hair, facial hair and glasses.
pub fn head(c: &mut Canvas, look: &Look) {
    let f = Face::of(look);
    if !look.style.is_long() && look.style != HairStyle::Afro {
        ears(c, look, &f);
    }
    let outline = f.outline();
    face(c, look, &f, outline.clone());
    if let Some(path) = &outline {
        facial_hair(c, look, &f, path);
    }
    eyes(c, look, &f);
    brows(c, look, &f);
    nose(c, look, &f);
    mouth(c, look, &f);
    front_hair(c, look, &f);
    glasses(c, look, &f);
}

fn ears(c: &mut Canvas, look: &Look, f: &Face) {
    let skin = look.skin;
    for side in [-1.0f32, 1.0] {
        let x = HX + side * (f.w * (1.0 - side * f.turn / 260.0) - 4.0);
        let y = HY + 26.0 * f.l;
        c.fill_rgb(oval_path(x, y, 17.0, 36.0), shade(skin, -0.12));
        c.curve(
            [
                (x - side * 2.0, y - 22.0),
                (x + side * 10.0, y),
                (x, y + 22.0),
            ],
            shade(skin, -0.35),
            120,
            3.0,
        );
    }
}

fn face(c: &mut Canvas, look: &Look, f: &Face, outline: Option<Path>) {
    let skin = look.skin;
    let light_x = HX - 40.0 + f.turn * 0.5;
    let shader = radial(
        light_x,
        HY - 30.0,
        0.0,
        270.0,
        vec![
            stop(0.0, shade(skin, 0.10), 255),
            stop(0.55, skin, 255),
            stop(1.0, shade(skin, -0.22), 255),
        ],
    );
    c.fill_shader(outline.clone(), shader);
    let Some(path) = outline else { return };
    let mask = c.mask_of(&path);
    // The far side of the face in soft shadow, the near cheek, the chin and the brow in light.
    let side_shadow = radial(
        HX + 170.0 + f.turn,
        HY + 40.0,
        40.0,
        200.0,
        vec![
            stop(0.0, shade(skin, -0.4), 70),
            stop(1.0, shade(skin, -0.4), 0),
        ],
    );
    if let Some(paint) = gradient_paint(side_shadow) {
        c.fill_masked(path_rect(), &paint, mask.as_ref());
    }
    let blush = [214, 110, 110];
    let blush_alpha = 26 + (look.smile * 26.0) as u8;
    for side in [-1.0f32, 1.0] {
        c.radial_glow(
            HX + side * 66.0 + f.turn,
            HY + 70.0 * f.l,
            46.0,
            blush,
            blush_alpha,
        );
    }
    c.radial_glow(
        HX + f.turn * 0.3,
        HY + 150.0 * f.l,
        40.0,
        [255, 255, 255],
        22,
    );
    c.radial_glow(
        HX - 20.0 + f.turn * 0.5,
        HY - 90.0 * f.l,
        70.0,
        [255, 255, 255],
        20,
    );
}

fn path_rect() -> Option<Path> {
    tiny_skia::Rect::from_xywh(0.0, 0.0, 1024.0, 1024.0).map(PathBuilder::from_rect)
}

fn eye_path(ex: f32, ey: f32, open: f32, side: f32) -> Option<Path> {
    // The outer corner sits a little higher than the inner one.
    let (inner, outer) = (ex - side * 24.0, ex + side * 25.0);
    let mut pb = PathBuilder::new();
    pb.move_to(inner, ey + 2.0);
    pb.cubic_to(
        inner + side * 8.0,
        ey - 15.0 * open,
        outer - side * 12.0,
        ey - 17.0 * open,
        outer,
        ey - 3.0,
    );
    pb.cubic_to(
        outer - side * 10.0,
        ey + 10.0 * open,
        inner + side * 10.0,
        ey + 11.0 * open,
        inner,
        ey + 2.0,
    );
    pb.close();
    pb.finish()
}

fn eye_centres(f: &Face) -> [(f32, f32, f32); 2] {
    let y = f.eye_y();
    [(-1.0, HX - 45.0 + f.turn, y), (1.0, HX + 45.0 + f.turn, y)]
}

fn eyes(c: &mut Canvas, look: &Look, f: &Face) {
    let skin = look.skin;
    let open = look.eye_open;
    for (side, ex, ey) in eye_centres(f) {
        // Socket shadow, then the white, the iris clipped to the lids, the lid line.
        c.radial_glow(ex, ey - 4.0, 46.0, shade(skin, -0.45), 36);
        let path = eye_path(ex, ey, open, side);
        c.fill_rgb(path.clone(), [246, 243, 238]);
        let Some(path) = path else { continue };
        let mask = c.mask_of(&path);
        let (ix, iy) = (ex + f.turn * 0.12, ey - 1.0);
        let iris = radial(
            ix,
            iy,
            0.0,
            12.5,
            vec![
                stop(0.0, shade(look.eyes, 0.25), 255),
                stop(0.7, look.eyes, 255),
                stop(1.0, shade(look.eyes, -0.5), 255),
            ],
        );
        if let Some(paint) = gradient_paint(iris) {
            c.fill_masked(
                PathBuilder::from_circle(ix, iy, 12.5),
                &paint,
                mask.as_ref(),
            );
        }
        c.fill_masked(
            PathBuilder::from_circle(ix, iy, 5.2),
            &solid([18, 14, 14], 255),
            mask.as_ref(),
        );
        // Shadow of the upper lid on the eyeball.
        let lid_shadow = vertical(
            ey - 16.0,
            ey - 4.0,
            vec![stop(0.0, [60, 40, 40], 90), stop(1.0, [60, 40, 40], 0)],
        );
        if let Some(paint) = gradient_paint(lid_shadow) {
            c.fill_masked(path_rect(), &paint, mask.as_ref());
        }
        c.circle_alpha(ix - 4.0, iy - 4.5, 2.8, [255, 255, 255], 235);
        let (inner, outer) = (ex - side * 24.0, ex + side * 25.0);
        let mut lid = PathBuilder::new();
        lid.move_to(inner, ey + 2.0);
        lid.cubic_to(
            inner + side * 8.0,
            ey - 15.0 * open,
            outer - side * 12.0,
            ey - 17.0 * open,
            outer + side * 3.0,
            ey - 5.0,
        );
        c.stroke(lid.finish(), [38, 28, 26], 255, 3.6);
        // Crease above the lid and a faint lower lid.
        c.curve(
            [
                (inner + side * 4.0, ey - 10.0 * open - 4.0),
                (ex, ey - 27.0 * open - 4.0),
                (outer - side * 2.0, ey - 12.0),
            ],
            shade(skin, -0.35),
            110,
            2.4,
        );
        c.curve(
            [
                (inner + side * 6.0, ey + 6.0),
                (ex, ey + 13.0 * open),
                (outer - side * 4.0, ey + 2.0),
            ],
            shade(skin, -0.3),
            60,
            2.0,
        );
    }
}

fn brow_colour(look: &Look) -> Rgb {
    // Very light hair still has visible brows.
    let dark = shade(look.hair, -0.3);
    if super::luma(dark) > 150.0 {
        mix(dark, [110, 90, 70], 0.4)
    } else {
        dark
    }
}

fn brows(c: &mut Canvas, look: &Look, f: &Face) {
    let colour = brow_colour(look);
    for (side, ex, ey) in eye_centres(f) {
        let y = ey - 36.0 - look.brow_raise;
        let inner = (ex - side * 28.0, y + look.brow_slant + 3.0);
        let outer = (ex + side * 32.0, y + 6.0);
        let peak = (ex + side * 6.0, y - 10.0);
        let mut pb = PathBuilder::new();
        pb.move_to(inner.0, inner.1 + 4.0);
        pb.quad_to(peak.0, peak.1, outer.0, outer.1);
        pb.quad_to(peak.0, peak.1 + 8.0, inner.0, inner.1 + 10.0);
        pb.close();
        c.fill(pb.finish(), &solid(colour, 235));
    }
}

fn nose(c: &mut Canvas, look: &Look, f: &Face) {
    let skin = look.skin;
    let nx = HX + f.turn * 1.3;
    let ey = f.eye_y();
    let tip = HY + 74.0 * f.l;
    let shadow_side = if f.turn >= 0.0 { 1.0 } else { -1.0 };
    c.curve(
        [
            (nx - shadow_side * 16.0, ey + 6.0),
            (nx - shadow_side * 12.0, tip - 30.0),
            (nx - shadow_side * 18.0, tip - 2.0),
        ],
        shade(skin, -0.4),
        55,
        6.0,
    );
    c.radial_glow(nx, tip - 10.0, 22.0, [255, 255, 255], 36);
    for side in [-1.0f32, 1.0] {
        c.curve(
            [
                (nx + side * 20.0, tip - 6.0),
                (nx + side * 25.0, tip + 8.0),
                (nx + side * 10.0, tip + 10.0),
            ],
            shade(skin, -0.4),
            120,
            2.6,
        );
        c.fill(
            oval_path(nx + side * 9.0, tip + 7.0, 6.0, 3.4),
            &solid(shade(skin, -0.55), 150),
        );
    }
    c.radial_glow(nx, tip + 14.0, 26.0, shade(skin, -0.4), 40);
}

fn mouth(c: &mut Canvas, look: &Look, f: &Face) {
    let skin = look.skin;
    let s = look.smile;
    let mx = HX + f.turn * 1.1;
    let my = f.mouth_y();
    let half = 32.0 + s * 9.0;
    let corner = my - s * 8.0;
    let centre = my + s * 5.0;
    let lip = mix(skin, [178, 78, 86], 0.4);
    // Upper lip with a cupid's bow.
    let mut up = PathBuilder::new();
    up.move_to(mx - half, corner);
    up.cubic_to(
        mx - half * 0.6,
        my - 8.0,
        mx - 12.0,
        my - 12.0,
        mx,
        my - 7.0,
    );
    up.cubic_to(
        mx + 12.0,
        my - 12.0,
        mx + half * 0.6,
        my - 8.0,
        mx + half,
        corner,
    );
    up.quad_to(mx, centre + 2.0, mx - half, corner);
    up.close();
    c.fill_rgb(up.finish(), shade(lip, -0.12));
    let open = s > 0.72;
    // Lower lip.
    let lower = centre + 13.0 + s * 3.0 + if open { 6.0 } else { 0.0 };
    let mut low = PathBuilder::new();
    low.move_to(mx - half * 0.95, corner + 1.0);
    low.quad_to(
        mx,
        centre + if open { 8.0 } else { 2.0 },
        mx + half * 0.95,
        corner + 1.0,
    );
    low.cubic_to(
        mx + half * 0.6,
        lower,
        mx - half * 0.6,
        lower,
        mx - half * 0.95,
        corner + 1.0,
    );
    low.close();
    c.fill_rgb(low.finish(), lip);
    if open {
        // Teeth showing between the lips in a broad smile.
        let mut teeth = PathBuilder::new();
        teeth.move_to(mx - half * 0.88, corner + 1.0);
        teeth.quad_to(mx, centre + 3.0, mx + half * 0.88, corner + 1.0);
        teeth.quad_to(mx, centre + 12.0, mx - half * 0.88, corner + 1.0);
        teeth.close();
        c.fill_rgb(teeth.finish(), [246, 244, 238]);
    }
    c.radial_glow(mx - 6.0, lower - 6.0, 14.0, [255, 255, 255], 50);
    c.curve(
        [(mx - half, corner), (mx, centre + 2.0), (mx + half, corner)],
        shade(lip, -0.55),
        190,
        2.6,
    );
    if s > 0.5 {
        for side in [-1.0f32, 1.0] {
            c.curve(
                [
                    (mx + side * (half + 2.0), corner - 4.0),
                    (mx + side * (half + 8.0), corner + 2.0),
                    (mx + side * (half + 3.0), corner + 8.0),
                ],
                shade(skin, -0.3),
                70,
                2.4,
            );
        }
    }
    c.radial_glow(mx, lower + 14.0, 24.0, shade(skin, -0.35), 40);
}

fn facial_hair(c: &mut Canvas, look: &Look, f: &Face, outline: &Path) {
    let alpha = match look.facial_hair {
        FacialHair::None => return,
        FacialHair::Stubble => 60,
        FacialHair::Beard => 235,
    };
    let colour = shade(look.hair, -0.1);
    let mask = c.mask_of(outline);
    let my = f.mouth_y();
    let mut pb = PathBuilder::new();
    pb.move_to(HX - f.w * 1.1, HY + 10.0);
    pb.quad_to(
        HX - f.w * 0.7,
        HY + 70.0 * f.l,
        HX - 42.0 + f.turn,
        my - 12.0,
    );
    pb.quad_to(HX + f.turn, my - 22.0, HX + 42.0 + f.turn, my - 12.0);
    pb.quad_to(HX + f.w * 0.7, HY + 70.0 * f.l, HX + f.w * 1.1, HY + 10.0);
    pb.line_to(HX + f.w * 1.1, HY + 260.0);
    pb.line_to(HX - f.w * 1.1, HY + 260.0);
    pb.close();
    let path = pb.finish();
    c.fill_masked(path, &solid(colour, alpha), mask.as_ref());
    if look.facial_hair == FacialHair::Beard {
        // Volume below the jaw line and a little texture.
        c.fill(
            oval_path(
                HX + f.turn * 0.3,
                HY + 170.0 * f.l,
                f.chin * f.w + 40.0,
                26.0,
            ),
            &solid(colour, 235),
        );
        let mut rng = SplitMix(look.seed ^ 0xBEA4D);
        for _ in 0..40 {
            let x = HX + (rng.unit() - 0.5) * f.w * 1.6;
            let y = my + (rng.unit() - 0.2) * 60.0;
            c.fill_masked(
                PathBuilder::from_circle(x, y, 2.0 + rng.unit() * 2.0),
                &solid(shade(colour, 0.2), 90),
                mask.as_ref(),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Front hair

/// The hair over the top of the head: an outer silhouette over the skull and a hairline above
/// the forehead, per style; then strands or curls per texture, and streaks of the highlight.
fn front_hair(c: &mut Canvas, look: &Look, f: &Face) {
    let Some((path, top, bottom)) = front_shape(look, f) else {
        return;
    };
    let hair = look.hair;
    let alpha = if look.style == HairStyle::Buzz {
        200
    } else {
        255
    };
    let shader = vertical(
        top,
        bottom,
        vec![
            stop(0.0, shade(hair, 0.14), alpha),
            stop(0.55, hair, alpha),
            stop(1.0, shade(hair, -0.25), alpha),
        ],
    );
    c.fill_shader(Some(path.clone()), shader);
    let mask = c.mask_of(&path);
    texture(c, look, f, mask.as_ref(), top, bottom);
    if look.texture == Texture::Curly || look.texture == Texture::Coily {
        curls_along(c, look, f);
    }
}

fn front_shape(look: &Look, f: &Face) -> Option<(Path, f32, f32)> {
    let w = f.w;
    let side = look.side;
    let crown = HY - 172.0 * f.l;
    let (volume, hairline, temple_y, reach) = match look.style {
        HairStyle::Buzz => (4.0, HY - 112.0, HY - 40.0, 1.0),
        HairStyle::Crop => (16.0, HY - 110.0, HY - 36.0, 1.03),
        HairStyle::SidePart => (24.0, HY - 104.0, HY - 30.0, 1.05),
        HairStyle::Quiff => (54.0, HY - 112.0, HY - 40.0, 1.04),
        HairStyle::Bun => (8.0, HY - 110.0, HY - 40.0, 1.02),
        HairStyle::Bob => (30.0, HY - 76.0, HY + 128.0, 1.2),
        HairStyle::Shoulder => (28.0, HY - 96.0, HY + 230.0, 1.22),
        HairStyle::Long => (30.0, HY - 100.0, HY + 300.0, 1.24),
        HairStyle::Afro => (40.0, HY - 108.0, HY - 20.0, 1.08),
    };
    let top = crown - volume;
    let (lx, rx) = (HX - w * reach, HX + w * reach);
    let mut pb = PathBuilder::new();
    if look.style.is_long() {
        // Curtains: from the crown down both sides of the face, framing it.
        pb.move_to(lx - 6.0, temple_y);
        pb.cubic_to(
            lx - 24.0,
            HY - 20.0,
            lx - 14.0,
            top + 40.0,
            HX - w * 0.5,
            top + 8.0,
        );
        pb.quad_to(HX, top - 6.0, HX + w * 0.5, top + 8.0);
        pb.cubic_to(
            rx + 14.0,
            top + 40.0,
            rx + 24.0,
            HY - 20.0,
            rx + 6.0,
            temple_y,
        );
        // Inner edge of the right curtain, up along the cheek to the parting.
        pb.cubic_to(
            rx - 24.0,
            temple_y - 60.0,
            HX + w * 0.9,
            HY - 20.0,
            HX + w * 0.78,
            HY - 60.0,
        );
        let part_x = HX + side * w * 0.28;
        if look.style == HairStyle::Bob {
            // A straight fringe.
            pb.quad_to(HX + w * 0.7, hairline, HX + w * 0.4, hairline + 4.0);
            pb.quad_to(HX, hairline + 10.0, HX - w * 0.4, hairline + 4.0);
            pb.quad_to(HX - w * 0.7, hairline, HX - w * 0.78, HY - 60.0);
        } else {
            pb.cubic_to(
                HX + w * 0.7,
                hairline,
                part_x + 30.0,
                hairline - 24.0,
                part_x,
                hairline - 40.0,
            );
            pb.cubic_to(
                part_x - 30.0,
                hairline - 24.0,
                HX - w * 0.7,
                hairline,
                HX - w * 0.78,
                HY - 60.0,
            );
        }
        pb.cubic_to(
            HX - w * 0.9,
            HY - 20.0,
            lx + 24.0,
            temple_y - 60.0,
            lx - 6.0,
            temple_y,
        );
        pb.close();
    } else {
        pb.move_to(lx, temple_y);
        pb.cubic_to(
            lx - 10.0,
            HY - 120.0,
            HX - w * 0.8,
            top,
            HX + side * w * 0.1,
            top,
        );
        pb.cubic_to(HX + w * 0.8, top, rx + 10.0, HY - 120.0, rx, temple_y);
        // Hairline back across the forehead: the side the hair sweeps to comes lower.
        let sweep = if matches!(look.style, HairStyle::SidePart | HairStyle::Quiff) {
            18.0
        } else {
            4.0
        };
        let (ry, ly) = (
            hairline + sweep * (1.0 + side),
            hairline + sweep * (1.0 - side),
        );
        pb.cubic_to(
            rx - 8.0,
            temple_y - 50.0,
            HX + w * 0.7,
            ry + 10.0,
            HX + w * 0.3,
            ry,
        );
        pb.quad_to(HX, hairline - 6.0, HX - w * 0.3, ly);
        pb.cubic_to(
            HX - w * 0.7,
            ly + 10.0,
            lx + 8.0,
            temple_y - 50.0,
            lx,
            temple_y,
        );
        pb.close();
    }
    Some((pb.finish()?, top, temple_y.max(HY)))
}

fn texture(c: &mut Canvas, look: &Look, f: &Face, mask: Option<&Mask>, top: f32, bottom: f32) {
    if look.style == HairStyle::Buzz {
        return;
    }
    let mut rng = SplitMix(look.seed);
    let hair = look.hair;
    let (light, dark) = (shade(hair, 0.3), shade(hair, -0.35));
    let wave = match look.texture {
        Texture::Straight => 0.0,
        Texture::Wavy => 14.0,
        Texture::Curly | Texture::Coily => 22.0,
    };
    let strands = 34;
    for i in 0..strands {
        let t = i as f32 / (strands - 1) as f32;
        let x0 = HX + look.side * f.w * 0.25 + (rng.unit() - 0.5) * 30.0;
        let x1 = HX - f.w * 1.3 + t * f.w * 2.6;
        let y1 = bottom + (rng.unit() - 0.3) * 60.0;
        let mid = ((x0 + x1) / 2.0 + wave * (t * 9.0).sin(), (top + y1) / 2.0);
        let mut pb = PathBuilder::new();
        pb.move_to(x0, top + 10.0);
        pb.quad_to(mid.0, mid.1, x1, y1);
        let (colour, alpha, width) = if i % 3 == 0 {
            (light, 70, 3.0)
        } else {
            (dark, 60, 2.4)
        };
        if let Some(path) = pb.finish() {
            let stroke = tiny_skia::Stroke {
                width,
                line_cap: tiny_skia::LineCap::Round,
                ..tiny_skia::Stroke::default()
            };
            let t = c.transform();
            c.pixmap
                .stroke_path(&path, &solid(colour, alpha), &stroke, t, mask);
        }
    }
    if let Some(streak) = look.highlight {
        // A patterned coat: a few soft, uneven streaks that follow the fall of the hair.
        for _ in 0..5 {
            let t = rng.unit();
            let x1 = HX - f.w * 1.1 + t * f.w * 2.2;
            let x0 = HX + look.side * f.w * 0.25 + (x1 - HX) * 0.3;
            let mut pb = PathBuilder::new();
            pb.move_to(x0, top + 14.0);
            pb.quad_to(
                (x0 + x1) / 2.0 + wave + (rng.unit() - 0.5) * 20.0,
                (top + bottom) / 2.0,
                x1,
                bottom - rng.unit() * 40.0,
            );
            if let Some(path) = pb.finish() {
                let stroke = tiny_skia::Stroke {
                    width: 10.0 + rng.unit() * 10.0,
                    line_cap: tiny_skia::LineCap::Round,
                    ..tiny_skia::Stroke::default()
                };
                let t = c.transform();
                c.pixmap
                    .stroke_path(&path, &solid(streak, 64), &stroke, t, mask);
            }
        }
    }
    // Sheen across the crown.
    let sheen = radial(
        HX - 30.0,
        top + 50.0,
        0.0,
        110.0,
        vec![
            stop(0.0, [255, 255, 255], 46),
            stop(1.0, [255, 255, 255], 0),
        ],
    );
    if let Some(paint) = gradient_paint(sheen) {
        c.fill_masked(path_rect(), &paint, mask);
    }
}

/// Curls along the top and sides of a curly head.
fn curls_along(c: &mut Canvas, look: &Look, f: &Face) {
    let mut rng = SplitMix(look.seed ^ 0xC0C0);
    let hair = look.hair;
    let (rx, ry, cy) = match look.style {
        HairStyle::Afro => (f.w + 78.0, 215.0, HY - 70.0),
        _ => (f.w * 1.02, 176.0 * f.l, HY - 30.0),
    };
    for i in 0..60 {
        let a = std::f32::consts::PI * (1.05 + 0.9 * i as f32 / 59.0);
        let inset = rng.unit() * 40.0;
        let x = HX + (rx - inset) * a.cos();
        let y = cy + (ry - inset) * a.sin();
        let r = 9.0 + rng.unit() * 8.0;
        let tone = if i % 2 == 0 {
            shade(hair, 0.12)
        } else {
            shade(hair, -0.2)
        };
        c.circle_alpha(x, y, r, tone, 200);
        c.curve(
            [(x - r * 0.6, y), (x, y - r * 0.8), (x + r * 0.6, y)],
            shade(hair, 0.3),
            90,
            2.0,
        );
    }
}

fn glasses(c: &mut Canvas, look: &Look, f: &Face) {
    let frame = [36, 32, 34];
    let lens = |c: &mut Canvas, x: f32, y: f32| -> Option<Path> {
        let path = match look.glasses {
            Glasses::None => None,
            Glasses::Round => PathBuilder::from_circle(x, y, 31.0),
            Glasses::Rectangular => super::round_rect_path(x - 36.0, y - 24.0, 72.0, 48.0, 12.0),
        };
        c.fill(path.clone(), &solid([255, 255, 255], 28));
        path
    };
    if look.glasses == Glasses::None {
        return;
    }
    let centres = eye_centres(f);
    for (_, x, y) in centres {
        let path = lens(c, x, y + 2.0);
        c.stroke(path, frame, 255, 5.0);
    }
    let (_, lx, ly) = centres[0];
    let (_, rx, _) = centres[1];
    c.curve(
        [
            (lx + 30.0, ly - 2.0),
            ((lx + rx) / 2.0, ly - 12.0),
            (rx - 30.0, ly - 2.0),
        ],
        frame,
        255,
        5.0,
    );
    for (side, x, y) in centres {
        c.line(
            x + side * 34.0,
            y - 4.0,
            HX + side * (f.w - 2.0),
            y + 6.0,
            frame,
            255,
            5.0,
        );
    }
}
