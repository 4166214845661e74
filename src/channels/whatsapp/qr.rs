//! The pairing QR: as terminal text for `channels login` and as a PNG data URL for the
//! Control UI (`web.login.start`'s `qrDataUrl`, the original's shape). The modules come
//! from the `qrcode` crate; both renderings are small enough to write here (the PNG is
//! one grey IDAT through the zlib we already link), so no image crate is linked.

use qrcode::{Color, QrCode};

/// Light modules around the code (the spec asks for 4; 2 is enough on a terminal,
/// where the screen around it is dark anyway and lines are precious).
const TERMINAL_QUIET: usize = 2;
const PNG_QUIET: usize = 4;
const PNG_SCALE: usize = 8;

/// The modules, dark = true, with `quiet` light modules on every side.
fn grid(data: &str, quiet: usize) -> Result<(usize, Vec<bool>), String> {
    let code = QrCode::new(data.as_bytes()).map_err(|e| format!("cannot encode the QR: {e}"))?;
    let w = code.width();
    let colors = code.to_colors();
    let n = w + 2 * quiet;
    let mut g = vec![false; n * n];
    for y in 0..w {
        for x in 0..w {
            g[(y + quiet) * n + x + quiet] = colors[y * w + x] == Color::Dark;
        }
    }
    Ok((n, g))
}

/// Two module rows per text line with half blocks, light modules drawn (`█`) and dark
/// ones left blank, as `qrencode -t UTF8` does: on the usual dark terminal the code
/// shows dark on light, the way a phone reads it.
pub fn terminal(data: &str) -> Result<String, String> {
    let (n, g) = grid(data, TERMINAL_QUIET)?;
    let light = |x: usize, y: usize| y >= n || !g[y * n + x];
    let mut out = String::with_capacity(n * (n / 2 + 1) * 3);
    for y in (0..n).step_by(2) {
        for x in 0..n {
            out.push(match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// `data:image/png;base64,…` of the code, 8 px per module, black on white.
pub fn png_data_url(data: &str) -> Result<String, String> {
    use base64::Engine;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png(data)?)
    ))
}

/// The code as a greyscale PNG.
pub fn png(data: &str) -> Result<Vec<u8>, String> {
    let (n, g) = grid(data, PNG_QUIET)?;
    let side = n * PNG_SCALE;
    let mut raw = Vec::with_capacity(side * (side + 1));
    for y in 0..side {
        raw.push(0); // filter: none
        let row = y / PNG_SCALE;
        for x in 0..side {
            raw.push(if g[row * n + x / PNG_SCALE] { 0 } else { 255 });
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &raw).map_err(|e| e.to_string())?;
    let idat = z.finish().map_err(|e| e.to_string())?;
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_lines_are_square_halves() {
        let t = terminal("2@abc,def,ghi,jkl").unwrap();
        let lines: Vec<&str> = t.lines().collect();
        let w = lines[0].chars().count();
        assert_eq!(lines.len(), w.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == w));
        // The quiet zone: the first line is light all the way.
        assert!(lines[0].chars().all(|c| c == '█'));
        let p = png("x").unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    }
}
