//! Reader for CTranslate2 `model.bin` files (binary format versions 4 to 6).
//!
//! Parsing only builds an index of the variables (shape, type, offset); tensor data is read
//! later one variable at a time, so converting never holds the whole model in memory.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::ModelError;

/// Element type of a stored variable (CTranslate2's `DataType` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }
}

/// One entry of the variable index.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub(crate) dims: Vec<usize>,
    pub(crate) dtype: DType,
    offset: u64,
    len: usize,
}

/// An opened CTranslate2 model: the variable index plus the reader to fetch data with.
pub(crate) struct Ct2Model<R> {
    reader: R,
    path: PathBuf,
    pub(crate) spec: String,
    vars: HashMap<String, Var>,
    aliases: HashMap<String, String>,
}

/// Sequential reader over the header that knows its position, so a truncated file is
/// reported as such (with the offset) instead of as a bare I/O error.
struct HeaderReader<'a, R> {
    inner: &'a mut R,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl<R: Read + Seek> HeaderReader<'_, R> {
    fn fail(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Ct2 {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let mut buf = [0u8; N];
        match self.inner.read_exact(&mut buf) {
            Ok(()) => {
                self.pos += N as u64;
                Ok(buf)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.fail(format!(
                "truncated: unexpected end of file at byte {} of {}",
                self.pos, self.len
            ))),
            Err(e) => Err(io_error(self.path, e)),
        }
    }

    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.bytes()?))
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    /// `u16` length (counting a trailing NUL), the bytes, the NUL.
    fn string(&mut self) -> Result<String, ModelError> {
        let n = usize::from(self.u16()?);
        if n == 0 {
            return Err(self.fail(format!("zero-length string at byte {}", self.pos - 2)));
        }
        self.need(n as u64)?;
        let mut buf = vec![0u8; n];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| io_error(self.path, e))?;
        self.pos += n as u64;
        buf.pop(); // the NUL terminator
        String::from_utf8(buf)
            .map_err(|_| self.fail(format!("string at byte {} is not UTF-8", self.pos)))
    }

    fn need(&self, n: u64) -> Result<(), ModelError> {
        if self.len.saturating_sub(self.pos) < n {
            return Err(self.fail(format!(
                "truncated: {n} bytes needed at byte {} but the file has {}",
                self.pos, self.len
            )));
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), ModelError> {
        self.need(n)?;
        let delta = i64::try_from(n).map_err(|_| self.fail("variable too large"))?;
        self.inner
            .seek(SeekFrom::Current(delta))
            .map_err(|e| io_error(self.path, e))?;
        self.pos += n;
        Ok(())
    }
}

fn io_error(path: &Path, error: io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        action: "read",
        error,
    }
}

impl<R> Ct2Model<R> {
    pub(crate) fn fail(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Ct2 {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Looks a variable up by name, following an alias if there is one.
    pub(crate) fn get(&self, name: &str) -> Result<&Var, ModelError> {
        let target = self.aliases.get(name).map_or(name, String::as_str);
        self.vars
            .get(target)
            .ok_or_else(|| self.fail(format!("variable {name} is missing")))
    }
}

impl<R: Read + Seek> Ct2Model<R> {
    /// Reads the header and variable index; `path` is only used in error messages.
    pub(crate) fn parse(mut reader: R, path: &Path) -> Result<Self, ModelError> {
        let len = reader
            .seek(SeekFrom::End(0))
            .and_then(|len| reader.seek(SeekFrom::Start(0)).map(|_| len))
            .map_err(|e| io_error(path, e))?;
        let mut h = HeaderReader {
            inner: &mut reader,
            pos: 0,
            len,
            path,
        };

        let version = h.u32()?;
        // Versions 4+ store an explicit dtype id and byte count per variable (older ones
        // predate Whisper support in CTranslate2 anyway).
        if !(4..=6).contains(&version) {
            return Err(h.fail(format!(
                "unsupported binary format version {version} (expected 4 to 6)"
            )));
        }
        let spec = h.string()?;
        let _revision = h.u32()?;
        let count = h.u32()?;

        let mut vars = HashMap::new();
        for _ in 0..count {
            let name = h.string()?;
            let rank = usize::from(h.u8()?);
            if rank > 8 {
                return Err(h.fail(format!("variable {name} has implausible rank {rank}")));
            }
            let mut dims = Vec::with_capacity(rank);
            for _ in 0..rank {
                dims.push(h.u32()? as usize);
            }
            let type_id = h.u8()?;
            let dtype = DType::from_id(type_id)
                .ok_or_else(|| h.fail(format!("variable {name} has unknown type id {type_id}")))?;
            let nbytes = h.u32()? as usize;
            let expected = dims
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
            if expected != Some(nbytes) {
                return Err(h.fail(format!(
                    "variable {name} holds {nbytes} bytes, which does not match shape {dims:?} of {}",
                    dtype.name()
                )));
            }
            let offset = h.pos;
            h.skip(nbytes as u64)?;
            vars.insert(
                name,
                Var {
                    dims,
                    dtype,
                    offset,
                    len: nbytes,
                },
            );
        }

        let mut aliases = HashMap::new();
        let n_aliases = h.u32()?;
        for _ in 0..n_aliases {
            let alias = h.string()?;
            let target = h.string()?;
            aliases.insert(alias, target);
        }

        Ok(Self {
            reader,
            path: path.to_path_buf(),
            spec,
            vars,
            aliases,
        })
    }

    /// An integer scalar such as `encoder/num_heads`, or `None` if absent.
    pub(crate) fn scalar_int(&mut self, name: &str) -> Result<Option<i64>, ModelError> {
        let Ok(var) = self.get(name) else {
            return Ok(None);
        };
        let (dtype, count) = (var.dtype, var.dims.iter().product::<usize>());
        if count != 1 {
            return Err(self.fail(format!(
                "{name} should be a scalar, has shape {:?}",
                var.dims
            )));
        }
        let bytes = self.read_part(name, 0, 1)?;
        let value = match (dtype, bytes.as_slice()) {
            (DType::I8, &[b]) => i64::from(i8::from_le_bytes([b])),
            (DType::I16, &[a, b]) => i64::from(i16::from_le_bytes([a, b])),
            (DType::I32, &[a, b, c, d]) => i64::from(i32::from_le_bytes([a, b, c, d])),
            _ => return Err(self.fail(format!("{name} should be an integer, is {}", dtype.name()))),
        };
        Ok(Some(value))
    }

    /// The raw bytes of part `index` of `parts` equal slices along the first dimension
    /// (`0, 1` for the whole variable): fused projections are split this way.
    pub(crate) fn read_part(
        &mut self,
        name: &str,
        index: usize,
        parts: usize,
    ) -> Result<Vec<u8>, ModelError> {
        let var = self.get(name)?;
        let rows = var.dims.first().copied().unwrap_or(1);
        if parts == 0 || index >= parts || rows % parts != 0 {
            return Err(self.fail(format!(
                "{name} with shape {:?} cannot be split in {parts} along its first dimension",
                var.dims
            )));
        }
        let part_len = var.len / parts;
        let start = var.offset + (index * part_len) as u64;
        let mut buf = vec![0u8; part_len];
        self.reader
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.reader.read_exact(&mut buf))
            .map_err(|e| io_error(&self.path, e))?;
        Ok(buf)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// Builds a CTranslate2 `model.bin` image in memory (binary version 6).
    #[derive(Default)]
    pub(crate) struct Ct2Builder {
        vars: Vec<(String, Vec<u32>, u8, Vec<u8>)>,
        aliases: Vec<(String, String)>,
    }

    fn put_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    impl Ct2Builder {
        pub(crate) fn var(&mut self, name: &str, dims: &[u32], dtype: u8, data: Vec<u8>) {
            self.vars
                .push((name.to_string(), dims.to_vec(), dtype, data));
        }

        pub(crate) fn f16(&mut self, name: &str, dims: &[u32], f: impl Fn(usize) -> f32) {
            let n: u32 = dims.iter().product();
            let data = (0..n as usize)
                .flat_map(|i| half::f16::from_f32(f(i)).to_le_bytes())
                .collect();
            self.var(name, dims, 4, data);
        }

        pub(crate) fn alias(&mut self, alias: &str, target: &str) {
            self.aliases.push((alias.to_string(), target.to_string()));
        }

        pub(crate) fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&6u32.to_le_bytes());
            put_string(&mut out, "WhisperSpec");
            out.extend_from_slice(&3u32.to_le_bytes());
            out.extend_from_slice(&(self.vars.len() as u32).to_le_bytes());
            for (name, dims, dtype, data) in &self.vars {
                put_string(&mut out, name);
                out.push(dims.len() as u8);
                for d in dims {
                    out.extend_from_slice(&d.to_le_bytes());
                }
                out.push(*dtype);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
            out.extend_from_slice(&(self.aliases.len() as u32).to_le_bytes());
            for (a, t) in &self.aliases {
                put_string(&mut out, a);
                put_string(&mut out, t);
            }
            out
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = Ct2Builder::default();
        b.var("encoder/num_heads", &[], 2, 8i16.to_le_bytes().to_vec());
        b.f16("decoder/embeddings/weight", &[4, 2], |i| i as f32);
        b.var(
            "encoder/layer_norm/gamma",
            &[3],
            0,
            [1.0f32, 2.0, 3.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        );
        b.alias("decoder/projection/weight", "decoder/embeddings/weight");
        b.build()
    }

    #[test]
    fn parses_index_scalars_aliases_and_parts() {
        let path = Path::new("synthetic.bin");
        let mut m = Ct2Model::parse(Cursor::new(sample()), path).expect("parse");
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.names().count(), 3);
        assert_eq!(m.scalar_int("encoder/num_heads").expect("int"), Some(8));
        assert_eq!(m.scalar_int("decoder/num_heads").expect("absent"), None);

        let v = m.get("decoder/projection/weight").expect("alias");
        assert_eq!((v.dims.as_slice(), v.dtype), (&[4, 2][..], DType::F16));
        let second_half = m
            .read_part("decoder/embeddings/weight", 1, 2)
            .expect("part");
        let vals: Vec<f32> = second_half
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        assert_eq!(vals, [4.0, 5.0, 6.0, 7.0]);
        assert!(m.read_part("encoder/layer_norm/gamma", 0, 2).is_err());
        assert!(m.scalar_int("encoder/layer_norm/gamma").is_err());
    }

    #[test]
    fn every_truncation_is_a_clean_error() {
        let full = sample();
        for cut in 0..full.len() {
            let err = Ct2Model::parse(Cursor::new(full[..cut].to_vec()), Path::new("cut.bin"))
                .err()
                .unwrap_or_else(|| panic!("prefix of {cut} bytes parsed"));
            let msg = err.to_string();
            assert!(msg.starts_with("cut.bin: "), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let mut state = 0x1234_5678u32;
        for len in [0usize, 3, 17, 1000, 100_000] {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            assert!(Ct2Model::parse(Cursor::new(junk), Path::new("junk.bin")).is_err());
        }
        // A plausible header whose variable claims more bytes than its shape needs.
        let mut b = Ct2Builder::default();
        b.var("x", &[2], 0, vec![0; 12]);
        let err = Ct2Model::parse(Cursor::new(b.build()), Path::new("bad.bin"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("bad.bin: not a convertible CTranslate2 Whisper model: variable x holds 12 bytes, which does not match shape [2] of float32")
        );
    }
}
