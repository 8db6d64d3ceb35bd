//! Label maps stored as PNG: 8-bit grayscale, palette indices (not the colours), 16-bit
//! grayscale, and the packed 1/2/4-bit forms of the first two. Writers make palette PNGs
//! (indices plus a colour map, as VOC's `SegmentationClass`) and 8/16-bit grayscale PNGs,
//! written atomically.

use std::io::Cursor;
use std::path::{Path, PathBuf};

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

/// The name given to PNGs encoded in memory, in errors.
const IN_MEMORY: &str = "<PNG in memory>";

/// Encodes a label map as an 8-bit palette PNG: the pixels are the indices, `palette` gives
/// their colours (index `i` -> `palette[i]`). A palette shorter than the largest index + 1 is
/// padded with black, since a PNG index must name a palette entry; pass
/// [`voc_colormap(256)`](crate::voc_colormap) to colour VOC's 255 void as the devkit does.
pub fn encode_palette_png(labels: &Array2<u8>, palette: &[[u8; 3]]) -> Result<Vec<u8>> {
    if palette.len() > 256 {
        return Err(Error::invalid(
            "palette",
            format!("{} colours, at most 256", palette.len()),
        ));
    }
    let needed = labels
        .iter()
        .copied()
        .max()
        .map_or(1, |m| usize::from(m) + 1);
    let mut colors: Vec<u8> = palette.iter().flatten().copied().collect();
    colors.resize(3 * needed.max(palette.len()), 0);
    let data: Vec<u8> = labels.iter().copied().collect();
    encode(
        labels.dim(),
        ColorType::Indexed,
        BitDepth::Eight,
        Some(colors),
        &data,
    )
}

/// Encodes a label map as grayscale: 8-bit for [`LabelMap::U8`], 16-bit (big-endian, as PNG
/// requires) for [`LabelMap::U16`].
pub fn encode_gray_png(labels: &LabelMap) -> Result<Vec<u8>> {
    match labels {
        LabelMap::U8(a) => {
            let data: Vec<u8> = a.iter().copied().collect();
            encode(a.dim(), ColorType::Grayscale, BitDepth::Eight, None, &data)
        }
        LabelMap::U16(a) => {
            let data: Vec<u8> = a.iter().flat_map(|v| v.to_be_bytes()).collect();
            encode(
                a.dim(),
                ColorType::Grayscale,
                BitDepth::Sixteen,
                None,
                &data,
            )
        }
    }
}

/// Writes [`encode_palette_png`]'s output to `path` atomically (see [`write_gray_png`]).
pub fn write_palette_png(path: &Path, labels: &Array2<u8>, palette: &[[u8; 3]]) -> Result<()> {
    let bytes = encode_palette_png(labels, palette).map_err(|e| rename_png(e, path))?;
    write_atomically(path, &bytes)
}

/// Writes [`encode_gray_png`]'s output to `path` atomically: through a temporary file in the
/// same folder, synced, then renamed over `path`, so a reader never sees half a file.
pub fn write_gray_png(path: &Path, labels: &LabelMap) -> Result<()> {
    let bytes = encode_gray_png(labels).map_err(|e| rename_png(e, path))?;
    write_atomically(path, &bytes)
}

/// Puts the real file name into an encoding error made in memory.
fn rename_png(error: Error, path: &Path) -> Error {
    match error {
        Error::PngEncode { source, .. } => Error::PngEncode {
            path: path.to_owned(),
            source,
        },
        other => other,
    }
}

fn encode(
    (height, width): (usize, usize),
    color: ColorType,
    depth: BitDepth,
    palette: Option<Vec<u8>>,
    data: &[u8],
) -> Result<Vec<u8>> {
    let side = |n: usize, what| {
        u32::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid("label map", format!("{what} {n}: PNG needs 1..2^32")))
    };
    let (w, h) = (side(width, "width")?, side(height, "height")?);
    let encode_error = |source| Error::PngEncode {
        path: PathBuf::from(IN_MEMORY),
        source,
    };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if let Some(palette) = palette {
        encoder.set_palette(palette);
    }
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(data).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

/// Writes `contents` to `path` through a synced temporary file renamed over it
/// ([`fcn_common::write_atomically`], with this crate's error type).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    fcn_common::write_atomically(path, contents).map_err(|source| Error::Io {
        action: "cannot write",
        path: path.to_owned(),
        source,
    })
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
    use proptest::prelude::{Just, Strategy, any};

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

    #[test]
    fn palette_png_round_trips_indices_and_keeps_colours() {
        let labels = ndarray::array![[0u8, 1, 255], [20, 3, 0]];
        let colors = crate::classes::voc_colormap(256);
        let png = encode_palette_png(&labels, &colors).unwrap();
        let map = decode_label_png(&png, Path::new("p.png")).unwrap();
        assert_eq!(map, LabelMap::U8(labels.clone()));
        let info = png::Decoder::new(Cursor::new(&png)).read_info().unwrap();
        let palette = info.info().palette.as_ref().unwrap().to_vec();
        assert_eq!(palette.len(), 3 * 256);
        assert_eq!(&palette[3 * 255..], &[224, 224, 192]);
        // A short palette is padded to cover the largest index.
        let png = encode_palette_png(&labels, &colors[..21]).unwrap();
        let map = decode_label_png(&png, Path::new("p.png")).unwrap();
        assert_eq!(map, LabelMap::U8(labels));
    }

    proptest::proptest! {
        #[test]
        fn any_label_map_round_trips(
            (h, w, values) in (1usize..20, 1usize..20).prop_flat_map(|(h, w)| {
                (Just(h), Just(w), proptest::collection::vec(any::<u16>(), h * w))
            })
        ) {
            let wide = Array2::from_shape_vec((h, w), values).unwrap();
            let narrow = wide.mapv(|v| v as u8);
            let palette = crate::classes::voc_colormap(256);
            for map in [LabelMap::U16(wide), LabelMap::U8(narrow.clone())] {
                let png = encode_gray_png(&map).unwrap();
                proptest::prop_assert_eq!(decode_label_png(&png, Path::new("g.png")).unwrap(), map);
            }
            let png = encode_palette_png(&narrow, &palette).unwrap();
            proptest::prop_assert_eq!(
                decode_label_png(&png, Path::new("p.png")).unwrap(),
                LabelMap::U8(narrow)
            );
        }
    }

    #[test]
    fn gray_png_round_trips_8_and_16_bit() {
        let u8_map = LabelMap::U8(ndarray::array![[0u8, 7], [255, 19], [1, 2]]);
        let png = encode_gray_png(&u8_map).unwrap();
        assert_eq!(decode_label_png(&png, Path::new("g.png")).unwrap(), u8_map);
        let u16_map = LabelMap::U16(ndarray::array![[0u16, 24001, 65535]]);
        let png = encode_gray_png(&u16_map).unwrap();
        assert_eq!(decode_label_png(&png, Path::new("g.png")).unwrap(), u16_map);
    }

    #[test]
    fn empty_maps_and_oversized_palettes_are_refused() {
        let empty = Array2::<u8>::zeros((0, 3));
        assert!(matches!(
            encode_gray_png(&LabelMap::U8(empty.clone())),
            Err(Error::InvalidArgument { .. })
        ));
        let colors = vec![[0u8; 3]; 257];
        assert!(encode_palette_png(&Array2::zeros((1, 1)), &colors).is_err());
    }

    #[test]
    fn writes_are_atomic_and_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let labels = ndarray::array![[1u8, 2], [3, 4]];
        write_palette_png(&path, &labels, &crate::classes::voc_colormap(256)).unwrap();
        write_gray_png(&path, &LabelMap::U8(labels.clone())).unwrap();
        assert_eq!(read_label_png(&path).unwrap(), LabelMap::U8(labels.clone()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/b.png");
        let err = write_gray_png(&missing, &LabelMap::U8(labels)).unwrap_err();
        assert!(err.to_string().contains("b.png"), "{err}");
    }
}
