//! The `serde::Serializer` behind [`super::canonical_json`]: any Rust value
//! into the value tree, integers kept exact, non-finite floats refused, map
//! keys that are not strings refused (integers become decimal strings, as
//! with `serde_json`), nesting limited to [`super::MAX_DEPTH`].

use serde::Serializer;
use serde::ser::{self, Serialize};

use super::MAX_DEPTH;
use super::value::Value;
use crate::error::CanonicalError;

pub(super) struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    /// The serializer for a document's top level.
    pub(super) fn root() -> Self {
        Self { depth: 0 }
    }

    fn nested(&self) -> Result<ValueSerializer, CanonicalError> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            Err(CanonicalError::TooDeep { max: MAX_DEPTH })
        } else {
            Ok(ValueSerializer { depth })
        }
    }
}

fn float(value: f64) -> Result<Value, CanonicalError> {
    if value.is_finite() {
        Ok(Value::Float(value))
    } else {
        Err(CanonicalError::NonFiniteNumber)
    }
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = CanonicalError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, CanonicalError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, CanonicalError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, CanonicalError> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| CanonicalError::IntegerOutOfRange)
    }
    fn serialize_f32(self, v: f32) -> Result<Value, CanonicalError> {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, CanonicalError> {
        float(v)
    }
    fn serialize_char(self, v: char) -> Result<Value, CanonicalError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, CanonicalError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, CanonicalError> {
        // As serde_json: an array of numbers.
        Ok(Value::Array(
            v.iter().map(|&b| Value::Int(b.into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, CanonicalError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, CanonicalError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, CanonicalError> {
        let inner = value.serialize(self.nested()?)?;
        Ok(Value::Object(vec![(variant.to_owned(), inner)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, CanonicalError> {
        Ok(SeqBuilder {
            inner: self.nested()?,
            items: Vec::with_capacity(len.unwrap_or(0).min(1024)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, CanonicalError> {
        // The variant object is one level and its array another.
        let seq = self.nested()?.serialize_seq(Some(len))?;
        Ok(VariantSeqBuilder { variant, seq })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, CanonicalError> {
        Ok(MapBuilder {
            inner: self.nested()?,
            members: Vec::new(),
            pending_key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapBuilder, CanonicalError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantMapBuilder, CanonicalError> {
        let map = self.nested()?.serialize_map(Some(len))?;
        Ok(VariantMapBuilder { variant, map })
    }
}

pub(super) struct SeqBuilder {
    inner: ValueSerializer,
    items: Vec<Value>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let v = value.serialize(ValueSerializer {
            depth: self.inner.depth,
        })?;
        self.items.push(v);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Array(self.items))
    }
}

pub(super) struct VariantSeqBuilder {
    variant: &'static str,
    seq: SeqBuilder,
}

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.seq.push(value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(vec![(
            self.variant.to_owned(),
            Value::Array(self.seq.items),
        )]))
    }
}

pub(super) struct MapBuilder {
    inner: ValueSerializer,
    members: Vec<(String, Value)>,
    pending_key: Option<String>,
}

impl MapBuilder {
    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: String,
        value: &T,
    ) -> Result<(), CanonicalError> {
        let v = value.serialize(ValueSerializer {
            depth: self.inner.depth,
        })?;
        self.members.push((key, v));
        Ok(())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        self.pending_key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| CanonicalError::Custom("map value without a key".to_owned()))?;
        self.member(key, value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(self.members))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.member(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(self.members))
    }
}

pub(super) struct VariantMapBuilder {
    variant: &'static str,
    map: MapBuilder,
}

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.map.member(key.to_owned(), value)
    }
    fn end(self) -> Result<Value, CanonicalError> {
        Ok(Value::Object(vec![(
            self.variant.to_owned(),
            Value::Object(self.map.members),
        )]))
    }
}

/// Serialises map keys: strings, chars, integers (as decimal strings, like
/// serde_json), unit variants and newtype wrappers of those.
struct KeySerializer;

fn not_a_string_key(found: &str) -> CanonicalError {
    CanonicalError::KeyMustBeString {
        found: found.to_owned(),
    }
}

impl Serializer for KeySerializer {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = ser::Impossible<String, CanonicalError>;
    type SerializeTuple = ser::Impossible<String, CanonicalError>;
    type SerializeTupleStruct = ser::Impossible<String, CanonicalError>;
    type SerializeTupleVariant = ser::Impossible<String, CanonicalError>;
    type SerializeMap = ser::Impossible<String, CanonicalError>;
    type SerializeStruct = ser::Impossible<String, CanonicalError>;
    type SerializeStructVariant = ser::Impossible<String, CanonicalError>;

    fn serialize_bool(self, _v: bool) -> Result<String, CanonicalError> {
        Err(not_a_string_key("bool"))
    }
    fn serialize_i8(self, v: i8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, CanonicalError> {
        Err(not_a_string_key("float"))
    }
    fn serialize_f64(self, _v: f64) -> Result<String, CanonicalError> {
        Err(not_a_string_key("float"))
    }
    fn serialize_char(self, v: char) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, CanonicalError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CanonicalError> {
        Err(not_a_string_key("bytes"))
    }
    fn serialize_none(self) -> Result<String, CanonicalError> {
        Err(not_a_string_key("none"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CanonicalError> {
        Err(not_a_string_key("option"))
    }
    fn serialize_unit(self) -> Result<String, CanonicalError> {
        Err(not_a_string_key("unit"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CanonicalError> {
        Err(not_a_string_key("unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CanonicalError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CanonicalError> {
        Err(not_a_string_key("newtype variant"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(not_a_string_key("sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(not_a_string_key("tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(not_a_string_key("tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(not_a_string_key("tuple variant"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(not_a_string_key("map"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(not_a_string_key("struct"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(not_a_string_key("struct variant"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CanonicalJson, canonical_json, canonicalize_str};

    #[test]
    fn big_integers_kept_exact() {
        assert_eq!(
            canonical_json(&u64::MAX).map(CanonicalJson::into_string),
            Ok("18446744073709551615".to_owned())
        );
        assert_eq!(
            canonicalize_str("-0").map(CanonicalJson::into_string),
            Ok("0".to_owned())
        );
        assert_eq!(
            canonicalize_str("1E2").map(CanonicalJson::into_string),
            Ok("100".to_owned())
        );
    }
}
