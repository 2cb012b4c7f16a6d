//! The PIN drawn as a PNG picture (the seed's "graphical captcha"): an 8×8 bitmap font scaled
//! up, each glyph shifted a little, on a speckled background with a few stray lines, so that
//! the PIN is easy for a person to read and not just a string to grep from the mail.

use font8x8::legacy::BASIC_LEGACY;
use rand::RngExt as _;

/// Pixels per font pixel.
const SCALE: usize = 5;
/// Glyph cell width in font pixels (8 plus spacing).
const CELL: usize = 10;
const MARGIN: usize = 4 * SCALE;

/// Renders `text` (ASCII; other characters are drawn as `?`) as a grayscale PNG.
pub fn render_png(text: &str) -> Vec<u8> {
    let chars: Vec<u8> = text
        .chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .collect();
    let width = 2 * MARGIN + chars.len().max(1) * CELL * SCALE;
    let height = 2 * MARGIN + 8 * SCALE + 2 * SCALE;
    let mut rng = rand::rng();
    // Light background with speckles.
    let mut px: Vec<u8> = (0..width * height)
        .map(|_| {
            if rng.random_range(0..100) < 6 {
                rng.random_range(150..220)
            } else {
                rng.random_range(238..=255)
            }
        })
        .collect();
    // A few thin gray lines across.
    for _ in 0..3 {
        let y0 = rng.random_range(0..height) as f64;
        let y1 = rng.random_range(0..height) as f64;
        for x in 0..width {
            let y = (y0 + (y1 - y0) * x as f64 / width as f64) as usize;
            if y < height {
                px[y * width + x] = 170;
            }
        }
    }
    // The glyphs, each with a small vertical jitter.
    for (i, &c) in chars.iter().enumerate() {
        let glyph = BASIC_LEGACY[c as usize];
        let x0 = MARGIN + i * CELL * SCALE + SCALE;
        let y0 = MARGIN + rng.random_range(0..=2 * SCALE);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..SCALE {
                    for dx in 0..SCALE {
                        let (x, y) = (x0 + col * SCALE + dx, y0 + row * SCALE + dy);
                        if x < width && y < height {
                            px[y * width + x] = 20;
                        }
                    }
                }
            }
        }
    }
    encode_gray(&px, width as u32, height as u32)
}

fn encode_gray(px: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    // Writing into a Vec cannot fail, and the buffer matches the header by construction.
    let written = enc
        .write_header()
        .and_then(|mut w| w.write_image_data(px).and_then(|()| w.finish()));
    debug_assert!(written.is_ok(), "{written:?}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_png_of_the_right_size() {
        let png_bytes = render_png("ABCD-EFGH-JKMN");
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width as usize, 2 * MARGIN + 14 * CELL * SCALE);
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        // Dark glyph pixels exist.
        let mut reader = reader;
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert!(buf.iter().filter(|&&p| p == 20).count() > 14 * 8 * SCALE * SCALE);
        assert!(!render_png("").is_empty());
        assert!(!render_png("é").is_empty());
    }
}
