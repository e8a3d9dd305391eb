//! The KIM codec's compiled Avro body decoder (used by `schemas/compiled_decoder.py`).
//!
//! A writer schema (the same dict fastavro parses) is compiled once into a tree of nodes; `decode` reads one
//! body into exactly the Python values fastavro's `schemaless_reader` gives for it: dicts in field order,
//! lists, str, bytes, int, float, bool, None, and for the logical types `uuid.UUID`, `datetime` in UTC
//! (`datetime.timezone.utc`) and `date`. A schema holding anything else (another logical type, an unknown
//! name) is refused with `NotImplementedError`, and the codec keeps fastavro for that schema. Bytes that are
//! not a body of the schema raise `ValueError`; corrupt bodies fastavro reads anyway (a negative enum or union
//! index counts from the end of the list, an overlong varint wraps) are read the same way, so that a projection
//! never depends on which of the two decoded its log. The one difference: an array or map block claiming more
//! items than bytes are left is refused at once (fastavro would read items until the data ends, which for the
//! catalog's types always fails).

use std::collections::HashMap;

use pyo3::exceptions::{PyNotImplementedError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDate, PyDateTime, PyDict, PyList, PyString, PyTzInfo};
use pyo3::IntoPyObjectExt;

enum Node {
    Null,
    Boolean,
    Long, // int and long: both zig-zag varints
    Float,
    Double,
    Bytes,
    Str,
    Uuid,
    TimestampMicros,
    TimestampMillis,
    Date,
    Record {
        keys: Vec<Py<PyString>>,
        fields: Vec<usize>,
    },
    Enum {
        symbols: Vec<Py<PyString>>,
    },
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    Fixed(usize),
    Pending, // a named type whose body is being compiled
}

fn unsupported(what: impl Into<String>) -> PyErr {
    PyNotImplementedError::new_err(what.into())
}

fn corrupt(what: impl Into<String>) -> PyErr {
    PyValueError::new_err(what.into())
}

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" | "long" => Node::Long,
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes,
        "string" => Node::Str,
        _ => return None,
    })
}

struct Compiler<'py> {
    py: Python<'py>,
    nodes: Vec<Node>,
    names: HashMap<String, usize>,
}

impl<'py> Compiler<'py> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn item(dict: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        dict.get_item(key)?
            .ok_or_else(|| unsupported(format!("a schema without {key:?}")))
    }

    fn compile(&mut self, schema: &Bound<'py, PyAny>, namespace: &str) -> PyResult<usize> {
        if let Ok(name) = schema.downcast::<PyString>() {
            let name = name.to_str()?;
            if let Some(node) = primitive(name) {
                return Ok(self.push(node));
            }
            return self.lookup(name, namespace);
        }
        if let Ok(branches) = schema.downcast::<PyList>() {
            let mut out = Vec::with_capacity(branches.len());
            for branch in branches.iter() {
                out.push(self.compile(&branch, namespace)?);
            }
            return Ok(self.push(Node::Union(out)));
        }
        let dict = schema
            .downcast::<PyDict>()
            .map_err(|_| unsupported("a schema is a name, a list or a dict"))?;
        let kind = Self::item(dict, "type")?;
        let logical: Option<String> = match dict.get_item("logicalType")? {
            Some(value) => Some(value.extract()?),
            None => None,
        };
        let kind_name: Option<String> = kind.extract().ok();
        match (kind_name.as_deref(), logical.as_deref()) {
            (Some("string"), Some("uuid")) => Ok(self.push(Node::Uuid)),
            (Some("long"), Some("timestamp-micros")) => Ok(self.push(Node::TimestampMicros)),
            (Some("long"), Some("timestamp-millis")) => Ok(self.push(Node::TimestampMillis)),
            (Some("int"), Some("date")) => Ok(self.push(Node::Date)),
            (_, Some(other)) => Err(unsupported(format!("logical type {other}"))),
            (Some("record"), None) | (Some("error"), None) => self.record(dict, namespace),
            (Some("enum"), None) => {
                let (full, _) = Self::full_name(dict, namespace)?;
                let mut symbols = Vec::new();
                for symbol in Self::item(dict, "symbols")?.downcast::<PyList>()?.iter() {
                    symbols.push(PyString::intern(self.py, &symbol.extract::<String>()?).unbind());
                }
                let index = self.push(Node::Enum { symbols });
                self.names.insert(full, index);
                Ok(index)
            }
            (Some("array"), None) => {
                let items = self.compile(&Self::item(dict, "items")?, namespace)?;
                Ok(self.push(Node::Array(items)))
            }
            (Some("map"), None) => {
                let values = self.compile(&Self::item(dict, "values")?, namespace)?;
                Ok(self.push(Node::Map(values)))
            }
            (Some("fixed"), None) => {
                let (full, _) = Self::full_name(dict, namespace)?;
                let index = self.push(Node::Fixed(Self::item(dict, "size")?.extract()?));
                self.names.insert(full, index);
                Ok(index)
            }
            _ => self.compile(&kind, namespace), // {"type": "string"}, a named type, a nested schema
        }
    }

    /// The full name of a named type and the namespace its fields are read in.
    fn full_name(dict: &Bound<'py, PyDict>, namespace: &str) -> PyResult<(String, String)> {
        let name: String = Self::item(dict, "name")?.extract()?;
        if let Some((space, _)) = name.rsplit_once('.') {
            return Ok((name.clone(), space.to_string()));
        }
        let space: String = match dict.get_item("namespace")? {
            Some(value) if !value.is_none() => value.extract()?,
            _ => namespace.to_string(),
        };
        let full = if space.is_empty() {
            name
        } else {
            format!("{space}.{name}")
        };
        Ok((full, space))
    }

    fn lookup(&self, name: &str, namespace: &str) -> PyResult<usize> {
        if !name.contains('.') && !namespace.is_empty() {
            if let Some(index) = self.names.get(&format!("{namespace}.{name}")) {
                return Ok(*index);
            }
        }
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| unsupported(format!("unknown type {name}")))
    }

    fn record(&mut self, dict: &Bound<'py, PyDict>, namespace: &str) -> PyResult<usize> {
        let (full, space) = Self::full_name(dict, namespace)?;
        let index = self.push(Node::Pending);
        self.names.insert(full, index);
        let mut keys = Vec::new();
        let mut fields = Vec::new();
        for field in Self::item(dict, "fields")?.downcast::<PyList>()?.iter() {
            let field = field.downcast::<PyDict>()?;
            keys.push(PyString::intern(self.py, &Self::item(field, "name")?.extract::<String>()?).unbind());
            fields.push(self.compile(&Self::item(field, "type")?, &space)?);
        }
        self.nodes[index] = Node::Record { keys, fields };
        Ok(index)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> PyResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        let end = end.ok_or_else(|| corrupt("unexpected end of data"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A zig-zag varint, read as fastavro's compiled reader does: any number of bytes, each shifted into a 64-bit
    /// word (the shift taken modulo 64, as x86 does), so that every body fastavro reads is read alike.
    fn long(&mut self) -> PyResult<i64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| corrupt("unexpected end of data"))?;
            self.pos += 1;
            n |= u64::from(byte & 0x7F).wrapping_shl(shift);
            if byte & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
            shift = shift.wrapping_add(7);
        }
    }

    /// The bytes of a string, bytes or map key: a length, then that many bytes.
    fn sized(&mut self) -> PyResult<&'a [u8]> {
        let n = self.long()?;
        self.take(usize::try_from(n).map_err(|_| corrupt(format!("negative length {n}")))?)
    }

    /// The item count of the next block of an array or map (0: the end); a negative count is followed by the
    /// block's size in bytes, which is skipped.
    fn block(&mut self) -> PyResult<usize> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs() as usize;
        if count > self.buf.len() - self.pos {
            return Err(corrupt(format!("a block of {count} items, more than the bytes left")));
        }
        Ok(count)
    }
}

/// (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's `civil_from_days`); None outside 1..=9999.
fn civil(days: i64) -> Option<(i32, u8, u8)> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (1..=9999)
        .contains(&year)
        .then_some((year as i32, month as u8, day as u8))
}

/// The item of a list at a Python index: a negative index counts from the end (fastavro indexes a list with
/// the value it read).
fn at<T>(items: &[T], index: i64) -> Option<&T> {
    let len = items.len() as i64;
    let at = if index < 0 { index.checked_add(len)? } else { index };
    usize::try_from(at).ok().and_then(|i| items.get(i))
}

/// The integer of a UUID in its canonical spelling (8-4-4-4-12 hex digits, either case), or None.
fn canonical_uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *byte != b'-' {
                return None;
            }
            continue;
        }
        value = (value << 4) | u128::from((*byte as char).to_digit(16)?);
    }
    Some(value)
}

#[pyclass(frozen, module = "kim_avro_native")]
struct Decoder {
    nodes: Vec<Node>,
    root: usize,
    utc: Py<PyTzInfo>,
    uuid_class: Py<PyAny>,
    object_new: Py<PyAny>,
    safe_unknown: Py<PyAny>,
    int_name: Py<PyString>,
    is_safe_name: Py<PyString>,
}

#[pymethods]
impl Decoder {
    /// Compile ``schema`` (a writer schema as JSON-like Python values); NotImplementedError if it holds
    /// something this decoder does not read the way fastavro does.
    #[new]
    fn new(py: Python<'_>, schema: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut compiler = Compiler {
            py,
            nodes: Vec::new(),
            names: HashMap::new(),
        };
        let root = compiler.compile(schema, "")?;
        let uuid = py.import("uuid")?;
        Ok(Decoder {
            nodes: compiler.nodes,
            root,
            utc: py
                .import("datetime")?
                .getattr("timezone")?
                .getattr("utc")?
                .downcast_into::<PyTzInfo>()?
                .unbind(),
            uuid_class: uuid.getattr("UUID")?.unbind(),
            object_new: py.import("builtins")?.getattr("object")?.getattr("__new__")?.unbind(),
            safe_unknown: uuid.getattr("SafeUUID")?.getattr("unknown")?.unbind(),
            int_name: PyString::intern(py, "int").unbind(),
            is_safe_name: PyString::intern(py, "is_safe").unbind(),
        })
    }

    /// The value of the body starting at ``start`` in ``data``, and the offset just after it.
    fn decode(&self, py: Python<'_>, data: &[u8], start: usize) -> PyResult<(Py<PyAny>, usize)> {
        if start > data.len() {
            return Err(corrupt("the body starts after the end of the data"));
        }
        let mut reader = Reader { buf: data, pos: start };
        let value = self.read(py, self.root, &mut reader)?;
        Ok((value, reader.pos))
    }
}

impl Decoder {
    fn read(&self, py: Python<'_>, node: usize, r: &mut Reader) -> PyResult<Py<PyAny>> {
        match &self.nodes[node] {
            Node::Null => Ok(py.None()),
            Node::Boolean => Ok(PyBool::new(py, r.take(1)?[0] != 0).to_owned().into_any().unbind()),
            Node::Long => r.long()?.into_py_any(py),
            Node::Float => f32::from_le_bytes(r.take(4)?.try_into().unwrap()).into_py_any(py),
            Node::Double => f64::from_le_bytes(r.take(8)?.try_into().unwrap()).into_py_any(py),
            Node::Bytes => Ok(PyBytes::new(py, r.sized()?).into_any().unbind()),
            Node::Str => Ok(PyString::new(py, utf8(py, r.sized()?)?).into_any().unbind()),
            Node::Uuid => self.uuid(py, utf8(py, r.sized()?)?),
            Node::TimestampMicros => self.timestamp(py, r.long()?),
            Node::TimestampMillis => {
                let millis = r.long()?;
                self.timestamp(
                    py,
                    millis
                        .checked_mul(1000)
                        .ok_or_else(|| corrupt("timestamp out of range"))?,
                )
            }
            Node::Date => {
                let days = r.long()?;
                let (year, month, day) = civil(days).ok_or_else(|| corrupt(format!("date {days} out of range")))?;
                Ok(PyDate::new(py, year, month, day)?.into_any().unbind())
            }
            Node::Record { keys, fields } => {
                let dict = PyDict::new(py);
                for (key, field) in keys.iter().zip(fields) {
                    dict.set_item(key.bind(py), self.read(py, *field, r)?)?;
                }
                Ok(dict.into_any().unbind())
            }
            Node::Enum { symbols } => {
                let index = r.long()?;
                let symbol = at(symbols, index).ok_or_else(|| corrupt(format!("enum index {index} out of range")))?;
                Ok(symbol.clone_ref(py).into_any())
            }
            Node::Array(items) => {
                let list = PyList::empty(py);
                loop {
                    let count = r.block()?;
                    if count == 0 {
                        return Ok(list.into_any().unbind());
                    }
                    for _ in 0..count {
                        list.append(self.read(py, *items, r)?)?;
                    }
                }
            }
            Node::Map(values) => {
                let dict = PyDict::new(py);
                loop {
                    let count = r.block()?;
                    if count == 0 {
                        return Ok(dict.into_any().unbind());
                    }
                    for _ in 0..count {
                        let key = PyString::new(py, utf8(py, r.sized()?)?);
                        dict.set_item(key, self.read(py, *values, r)?)?;
                    }
                }
            }
            Node::Union(branches) => {
                let index = r.long()?;
                let branch = at(branches, index).ok_or_else(|| corrupt(format!("union index {index} out of range")))?;
                self.read(py, *branch, r)
            }
            Node::Fixed(size) => Ok(PyBytes::new(py, r.take(*size)?).into_any().unbind()),
            Node::Pending => Err(corrupt("a named type read before it was compiled")),
        }
    }

    /// ``epoch + timedelta(microseconds=micros)`` in UTC, as fastavro builds it.
    fn timestamp(&self, py: Python<'_>, micros: i64) -> PyResult<Py<PyAny>> {
        const DAY: i64 = 86_400_000_000;
        let (year, month, day) = civil(micros.div_euclid(DAY)).ok_or_else(|| corrupt("timestamp out of range"))?;
        let within = micros.rem_euclid(DAY);
        let seconds = within / 1_000_000;
        let at = PyDateTime::new(
            py,
            year,
            month,
            day,
            (seconds / 3600) as u8,
            (seconds / 60 % 60) as u8,
            (seconds % 60) as u8,
            (within % 1_000_000) as u32,
            Some(self.utc.bind(py)),
        )?;
        Ok(at.into_any().unbind())
    }

    /// ``uuid.UUID(text)``: built directly for the canonical spelling (as ``UUID.__setstate__`` does: the
    /// integer and ``SafeUUID.unknown``), by ``uuid.UUID`` itself for any other spelling it accepts.
    fn uuid(&self, py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
        let Some(value) = canonical_uuid(text) else {
            return Ok(self.uuid_class.bind(py).call1((text,))?.unbind());
        };
        let made = self.object_new.bind(py).call1((self.uuid_class.bind(py),))?;
        let int = value.into_pyobject(py)?;
        for (name, attribute) in [
            (&self.int_name, int.as_any()),
            (&self.is_safe_name, self.safe_unknown.bind(py)),
        ] {
            // object.__setattr__: UUID's own __setattr__ refuses every change
            let status =
                unsafe { pyo3::ffi::PyObject_GenericSetAttr(made.as_ptr(), name.as_ptr(), attribute.as_ptr()) };
            if status != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(made.unbind())
    }
}

/// The text of UTF-8 bytes; for invalid bytes, the very ``UnicodeDecodeError`` Python's strict decoder (and so
/// fastavro) raises, so that a dead letter's reason does not depend on the decoder.
fn utf8<'b>(py: Python<'_>, bytes: &'b [u8]) -> PyResult<&'b str> {
    std::str::from_utf8(bytes).map_err(|_| match PyBytes::new(py, bytes).call_method1("decode", ("utf-8",)) {
        Err(error) => error,
        Ok(_) => corrupt("invalid UTF-8"),
    })
}

#[pymodule]
fn kim_avro_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Decoder>()
}
