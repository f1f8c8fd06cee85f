//! `Ts`: a point in time with millisecond precision, stored as INTEGER unix
//! milliseconds on SQLite and as `timestamptz` on PostgreSQL.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

/// Unix time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl Ts {
    pub fn now() -> Self {
        Ts((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Ts(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    pub fn to_offset(self) -> OffsetDateTime {
        // Out of range saturates (far future stays far future), never wraps to 1970.
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).unwrap_or(if self.0 > 0 {
            time::PrimitiveDateTime::MAX.assume_utc()
        } else {
            time::PrimitiveDateTime::MIN.assume_utc()
        })
    }
    pub fn from_offset(t: OffsetDateTime) -> Self {
        Ts((t.unix_timestamp_nanos().div_euclid(1_000_000)) as i64)
    }
    /// ISO 8601 with milliseconds and `Z`, as better-auth and JavaScript's `Date.toJSON` write it.
    pub fn to_iso(self) -> String {
        let buf = self.iso_bytes();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` without allocating (years 0..=9999).
    fn iso_bytes(self) -> [u8; 24] {
        let t = self.to_offset();
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for d in b.iter_mut().skip(at).take(width).rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, t.year().clamp(0, 9999) as u32);
        put(5, 2, u8::from(t.month()) as u32);
        put(8, 2, t.day() as u32);
        put(11, 2, t.hour() as u32);
        put(14, 2, t.minute() as u32);
        put(17, 2, t.second() as u32);
        put(20, 3, t.millisecond() as u32);
        b
    }
}

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.iso_bytes();
        // ASCII digits and separators: always UTF-8, so this borrows without copying.
        s.serialize_str(&String::from_utf8_lossy(&b))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}
impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}
impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<i64 as Decode<'r, Sqlite>>::decode(value)?))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}
impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.to_offset(), buf)
    }
}
impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts::from_offset(<OffsetDateTime as Decode<'r, Postgres>>::decode(value)?))
    }
}

/// A stored time exactly as the database holds it, in microseconds: SQLite's integer
/// milliseconds, or PostgreSQL's `timestamptz` with all its precision. For checks that
/// must notice a change below the millisecond [`Ts`] reads (the audit chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExactTs(pub i64);

impl Type<Sqlite> for ExactTs {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}
impl<'r> Decode<'r, Sqlite> for ExactTs {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(ExactTs(<i64 as Decode<'r, Sqlite>>::decode(value)?.saturating_mul(1000)))
    }
}
impl Type<Postgres> for ExactTs {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}
impl<'r> Decode<'r, Postgres> for ExactTs {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(ExactTs((<OffsetDateTime as Decode<'r, Postgres>>::decode(value)?.unix_timestamp_nanos() / 1000) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn iso_format_matches_javascript() {
        assert_eq!(Ts(1795357547371).to_iso(), "2026-11-22T14:25:47.371Z");
        assert_eq!(Ts(0).to_iso(), "1970-01-01T00:00:00.000Z");
    }
}
