//! One fixed colour (and marker shape) per contender, the same in every plot of every run.
//!
//! Colours come from two palettes designed to stay distinguishable under the common forms of
//! colour-vision deficiency:
//! - **Okabe–Ito**: M. Okabe and K. Ito, *Color Universal Design (CUD): How to make figures and
//!   presentations that are friendly to colorblind people* (2002/2008), 8 colours;
//! - **Paul Tol's "muted" and "light" schemes**: P. Tol, *Colour Schemes*, SRON technical note
//!   SRON/EPS/TN/09-002, issue 3.2 (2021).
//!
//! Sixteen contenders cannot all be told apart by hue alone, so colour is never the only cue:
//! every bar and line is also labelled by name, sweep lines carry a per-contender marker shape,
//! and the `main` family shares blues. A contender's colour depends only on its id, never on
//! its rank or on which other contenders a run holds.

use plotters::style::RGBColor;

use super::canvas::Shape;

/// Okabe–Ito palette (hex from the CUD guide).
mod okabe_ito {
    use plotters::style::RGBColor;
    pub const BLACK: RGBColor = RGBColor(0x00, 0x00, 0x00);
    pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    pub const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
    pub const BLUISH_GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    pub const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
    pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    pub const REDDISH_PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
}

/// Paul Tol's muted and light schemes (hex from the SRON note), minus their pale greys.
mod tol {
    use plotters::style::RGBColor;
    pub const INDIGO: RGBColor = RGBColor(0x33, 0x22, 0x88);
    pub const CYAN: RGBColor = RGBColor(0x88, 0xCC, 0xEE);
    pub const TEAL: RGBColor = RGBColor(0x44, 0xAA, 0x99);
    pub const GREEN: RGBColor = RGBColor(0x11, 0x77, 0x33);
    pub const OLIVE: RGBColor = RGBColor(0x99, 0x99, 0x33);
    pub const SAND: RGBColor = RGBColor(0xDD, 0xCC, 0x77);
    pub const ROSE: RGBColor = RGBColor(0xCC, 0x66, 0x77);
    pub const WINE: RGBColor = RGBColor(0x88, 0x22, 0x55);
    pub const PURPLE: RGBColor = RGBColor(0xAA, 0x44, 0x99);
    pub const LIGHT_BLUE: RGBColor = RGBColor(0x77, 0xAA, 0xDD);
    pub const LIGHT_ORANGE: RGBColor = RGBColor(0xEE, 0x88, 0x66);
    pub const PINK: RGBColor = RGBColor(0xFF, 0xAA, 0xBB);
    pub const MINT: RGBColor = RGBColor(0x44, 0xBB, 0x99);
    pub const PEAR: RGBColor = RGBColor(0xBB, 0xCC, 0x33);
    pub const LIGHT_OLIVE: RGBColor = RGBColor(0xAA, 0xAA, 0x00);
}

/// The fixed colour and marker of every known contender id. The flagship family (`main` and
/// its ablations) are blues; the physical floor is black (a reference, not a rival); each
/// other design family and peer has a colour of its own.
pub(super) const CONTENDER_COLOURS: &[(&str, RGBColor, Shape)] = &[
    ("main", okabe_ito::BLUE, Shape::Circle),
    ("main/no-spin", okabe_ito::SKY_BLUE, Shape::Square),
    ("main/always-epoll", tol::INDIGO, Shape::Triangle),
    ("main/boxed", tol::CYAN, Shape::Diamond),
    ("baseline", okabe_ito::ORANGE, Shape::Square),
    ("alt-one", okabe_ito::BLUISH_GREEN, Shape::Triangle),
    ("alt-two", okabe_ito::REDDISH_PURPLE, Shape::Diamond),
    ("alt-three", tol::WINE, Shape::Circle),
    ("tokio-ct", okabe_ito::VERMILLION, Shape::Square),
    ("tokio-ct-noio", tol::LIGHT_ORANGE, Shape::Triangle),
    ("std-mpsc", tol::PURPLE, Shape::Diamond),
    ("crossbeam-worker", tol::GREEN, Shape::Circle),
    ("calloop", tol::SAND, Shape::Square),
    ("async-executor", tol::ROSE, Shape::Triangle),
    ("libuv", tol::TEAL, Shape::Diamond),
    ("floor", okabe_ito::BLACK, Shape::Square),
];

/// Colours for ids not in [`CONTENDER_COLOURS`], picked by a hash of the id (never used by a
/// known id, so an unknown contender never takes a known one's colour; two unknown ids may
/// share one).
const FALLBACK: [RGBColor; 8] = [
    tol::LIGHT_BLUE,
    tol::PINK,
    tol::MINT,
    tol::PEAR,
    tol::LIGHT_OLIVE,
    tol::OLIVE,
    okabe_ito::YELLOW,
    RGBColor(0x88, 0x88, 0x88),
];

/// 64-bit FNV-1a hash (Fowler–Noll–Vo; offset basis 0xcbf29ce484222325, prime 0x100000001b3):
/// stable across builds and platforms, unlike `std`'s randomly seeded hasher.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The fixed colour of contender `id`: its entry in [`CONTENDER_COLOURS`] (Okabe–Ito and Paul
/// Tol's colour-blind-safe palettes, see the module docs), or for an unknown id one of 8
/// fallback colours chosen by the FNV-1a hash of the id. Depends on the id alone, so a
/// contender has the same colour in every plot; never on rank.
pub fn contender_colour(id: &str) -> RGBColor {
    match CONTENDER_COLOURS.iter().find(|(k, _, _)| *k == id) {
        Some((_, c, _)) => *c,
        None => FALLBACK[(fnv1a(id) % FALLBACK.len() as u64) as usize],
    }
}

/// The fixed marker shape of contender `id` in line charts (unknown ids: by hash).
pub(super) fn contender_marker(id: &str) -> Shape {
    match CONTENDER_COLOURS.iter().find(|(k, _, _)| *k == id) {
        Some((_, _, s)) => *s,
        None => [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Diamond]
            [(fnv1a(id) >> 8) as usize % 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_have_distinct_colours_and_unknown_ids_are_stable() {
        for (i, (a, ca, _)) in CONTENDER_COLOURS.iter().enumerate() {
            assert_eq!(contender_colour(a), *ca);
            for (b, cb, _) in &CONTENDER_COLOURS[i + 1..] {
                assert_ne!(a, b, "duplicate id");
                assert_ne!(ca, cb, "{a} and {b} share a colour");
            }
            assert!(!FALLBACK.contains(ca), "{a}'s colour is also a fallback colour");
        }
        assert_eq!(contender_colour("someone-new"), contender_colour("someone-new"));
        assert!(FALLBACK.contains(&contender_colour("someone-new")));
        assert_eq!(contender_marker("main"), Shape::Circle);
        // FNV-1a test vector: "a" → 0xaf63dc4c8601ec8c.
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
