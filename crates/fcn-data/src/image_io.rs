//! RGB images (JPEG, PNG) decoded under size limits.

use std::io::Cursor;
use std::path::Path;

use ndarray::Array3;

use crate::error::{Error, Result};

/// Largest image side accepted, in pixels: above any dataset's images, small enough that a
/// hostile header cannot make the decoder allocate gigabytes.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Largest decoded image accepted, in bytes.
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// Reads an image file as RGB, HxWx3. Grayscale is expanded, alpha dropped; the format is
/// taken from the file's contents, not its extension.
pub fn read_rgb(path: &Path) -> Result<Array3<u8>> {
    let bytes = std::fs::read(path).map_err(|source| Error::read(path, source))?;
    decode_rgb(&bytes, path)
}

/// Decodes an image held in memory as RGB; `path` only names it in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<Array3<u8>> {
    let image_error = |source| Error::Image {
        path: path.to_owned(),
        source,
    };
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| Error::read(path, source))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let rgb = reader.decode().map_err(image_error)?.into_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    Array3::from_shape_vec((height, width, 3), rgb.into_raw())
        .map_err(|_| Error::format(path, "image data", "height x width x 3 bytes", "fewer"))
}

/// Encodes an RGB image (height x width x 3) as an 8-bit RGB PNG.
pub fn encode_rgb_png(image: &Array3<u8>) -> Result<Vec<u8>> {
    let (height, width, channels) = image.dim();
    if channels != 3 || height == 0 || width == 0 {
        return Err(Error::invalid(
            "image",
            format!(
                "expected height x width x 3 with both sides positive, found {:?}",
                image.dim()
            ),
        ));
    }
    let too_large = |_| Error::invalid("image", format!("{height} x {width} is too large for PNG"));
    let (w, h) = (
        u32::try_from(width).map_err(too_large)?,
        u32::try_from(height).map_err(too_large)?,
    );
    let pixels: Vec<u8> = image.iter().copied().collect();
    let mut out = Vec::new();
    let encode_error = |source| Error::PngEncode {
        path: "<memory>".into(),
        source,
    };
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

/// Writes an RGB image as PNG to `path`, atomically.
pub fn write_rgb_png(path: &Path, image: &Array3<u8>) -> Result<()> {
    let bytes = encode_rgb_png(image).map_err(|e| match e {
        Error::PngEncode { source, .. } => Error::PngEncode {
            path: path.to_owned(),
            source,
        },
        other => other,
    })?;
    crate::label_png::write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_png_round_trips() {
        let mut a = Array3::<u8>::zeros((2, 3, 3));
        a[[1, 2, 0]] = 200;
        a[[0, 1, 2]] = 7;
        let bytes = encode_rgb_png(&a).unwrap();
        assert_eq!(decode_rgb(&bytes, Path::new("x.png")).unwrap(), a);
        assert!(encode_rgb_png(&Array3::<u8>::zeros((2, 3, 4))).is_err());
    }

    #[test]
    fn png_round_trip_and_garbage_named() {
        let mut img = image::RgbImage::new(3, 2);
        img.put_pixel(2, 1, image::Rgb([10, 20, 30]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        let a = decode_rgb(&bytes, Path::new("a.png")).unwrap();
        assert_eq!(a.dim(), (2, 3, 3));
        assert_eq!([a[[1, 2, 0]], a[[1, 2, 1]], a[[1, 2, 2]]], [10, 20, 30]);
        let err = decode_rgb(b"not an image", Path::new("dir/b.jpg")).unwrap_err();
        assert!(err.to_string().contains("dir/b.jpg"), "{err}");
    }
}
