//! Label maps stored as PNG: 8-bit grayscale, palette indices (not the colours), 16-bit
//! grayscale, and the packed 1/2/4-bit forms of the first two.

use std::io::Cursor;
use std::path::Path;

use png::{BitDepth, ColorType, Transformations};

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::sample::LabelMap;

/// Largest decoded label map accepted, in bytes: far above any dataset's images, far below
/// what a hostile header could make the decoder allocate.
pub const MAX_DECODED_BYTES: usize = 1 << 30;

/// Reads a label PNG. Palette images give their indices; colour images are an error, since
/// their values are not class indices.
pub fn read_label_png(path: &Path) -> Result<LabelMap> {
    let bytes = std::fs::read(path).map_err(|source| Error::read(path, source))?;
    decode_label_png(&bytes, path)
}

/// Decodes a label PNG held in memory; `path` only names it in errors.
pub fn decode_label_png(bytes: &[u8], path: &Path) -> Result<LabelMap> {
    let png_error = |source| Error::Png {
        path: path.to_owned(),
        source,
    };
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: MAX_DECODED_BYTES,
        },
    );
    // No expansion: palette images must keep their indices.
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (color, depth) = reader.output_color_type();
    let bits = depth as u8;
    if !matches!(color, ColorType::Grayscale | ColorType::Indexed) {
        return Err(Error::NotALabelPng {
            path: path.to_owned(),
            color: color_name(color),
            bits,
        });
    }
    let size = reader
        .output_buffer_size()
        .filter(|&s| s <= MAX_DECODED_BYTES)
        .ok_or(Error::Png {
            path: path.to_owned(),
            source: png::DecodingError::LimitsExceeded,
        })?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let rows = buf[..frame.line_size * height].chunks_exact(frame.line_size);
    let shape_error = |_| Error::format(path, "image data", "width x height samples", "fewer");
    let map = match depth {
        BitDepth::Sixteen => LabelMap::U16(
            Array2::from_shape_vec(
                (height, width),
                rows.flat_map(|row| {
                    row[..2 * width]
                        .chunks_exact(2)
                        .map(|b| u16::from_be_bytes([b[0], b[1]]))
                })
                .collect(),
            )
            .map_err(shape_error)?,
        ),
        BitDepth::Eight => {
            let data: Vec<u8> = rows.flat_map(|row| &row[..width]).copied().collect();
            LabelMap::U8(Array2::from_shape_vec((height, width), data).map_err(shape_error)?)
        }
        BitDepth::One | BitDepth::Two | BitDepth::Four => LabelMap::U8(
            Array2::from_shape_vec(
                (height, width),
                rows.flat_map(|row| unpack_row(row, bits, width)).collect(),
            )
            .map_err(shape_error)?,
        ),
    };
    Ok(map)
}

/// The first `width` samples of a row packed at `bits` (1, 2 or 4) bits each, high bits first.
fn unpack_row(row: &[u8], bits: u8, width: usize) -> impl Iterator<Item = u8> + '_ {
    let per_byte = 8 / bits as usize;
    let mask = (1u8 << bits) - 1;
    (0..width).map(move |x| {
        let shift = 8 - bits as usize * (x % per_byte + 1);
        (row[x / per_byte] >> shift) & mask
    })
}

fn color_name(color: ColorType) -> &'static str {
    match color {
        ColorType::Grayscale => "grayscale",
        ColorType::Rgb => "RGB (colour-coded labels need a colour-to-class map first)",
        ColorType::Indexed => "palette",
        ColorType::GrayscaleAlpha => "grayscale with alpha",
        ColorType::Rgba => "RGBA (colour-coded labels need a colour-to-class map first)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(width: u32, height: u32, color: ColorType, depth: BitDepth, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == ColorType::Indexed {
            // A palette whose colours say nothing about the indices.
            let palette: Vec<u8> = (0..=255u8)
                .flat_map(|i| [i.wrapping_mul(37), 255 - i, i ^ 0x5a])
                .collect();
            encoder.set_palette(palette);
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn packed_palette_rows_unpack_to_indices() {
        // 3 x 2 at 2 bits: row bytes 0b00_01_10_00 (3 values + padding), 0b11_10_01_00.
        let png = encode(
            3,
            2,
            ColorType::Indexed,
            BitDepth::Two,
            &[0b0001_1000, 0b1110_0100],
        );
        let map = decode_label_png(&png, Path::new("t.png")).unwrap();
        assert_eq!(map.dim(), (2, 3));
        assert_eq!(
            map,
            LabelMap::U8(Array2::from_shape_vec((2, 3), vec![0, 1, 2, 3, 2, 1]).unwrap())
        );
    }

    #[test]
    fn one_bit_and_four_bit_grayscale() {
        let png = encode(
            10,
            1,
            ColorType::Grayscale,
            BitDepth::One,
            &[0b1010_0000, 0b1100_0000],
        );
        let map = decode_label_png(&png, Path::new("t.png")).unwrap();
        assert_eq!(
            map,
            LabelMap::U8(
                Array2::from_shape_vec((1, 10), vec![1, 0, 1, 0, 0, 0, 0, 0, 1, 1]).unwrap()
            )
        );
        let png = encode(3, 1, ColorType::Grayscale, BitDepth::Four, &[0x9f, 0x30]);
        let map = decode_label_png(&png, Path::new("t.png")).unwrap();
        assert_eq!(
            map,
            LabelMap::U8(Array2::from_shape_vec((1, 3), vec![9, 15, 3]).unwrap())
        );
    }

    #[test]
    fn sixteen_bit_is_big_endian() {
        let png = encode(
            2,
            1,
            ColorType::Grayscale,
            BitDepth::Sixteen,
            &[0x5d, 0xc1, 0x00, 0x07],
        );
        let map = decode_label_png(&png, Path::new("t.png")).unwrap();
        assert_eq!(
            map,
            LabelMap::U16(Array2::from_shape_vec((1, 2), vec![24001, 7]).unwrap())
        );
    }

    #[test]
    fn rgb_is_refused_with_the_file_named() {
        let png = encode(1, 1, ColorType::Rgb, BitDepth::Eight, &[1, 2, 3]);
        let err = decode_label_png(&png, Path::new("x/colour.png")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x/colour.png") && msg.contains("RGB"), "{msg}");
    }

    #[test]
    fn truncated_file_is_an_error() {
        let png = encode(4, 4, ColorType::Grayscale, BitDepth::Eight, &[7; 16]);
        let err = decode_label_png(&png[..png.len() - 20], Path::new("cut.png")).unwrap_err();
        assert!(matches!(err, Error::Png { .. }), "{err:?}");
    }
}
