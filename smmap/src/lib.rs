//! smmap
#![cfg_attr(docsrs, feature(doc_cfg))]

mod buffer;
mod cursor;
mod error;
mod lru;
mod manager;
mod record;
mod sys;
mod window;

pub use buffer::SlidingWindowMapBuffer;
pub use cursor::WindowCursor;
pub use error::{Error, Location, Result};
pub use manager::{
    ManagerBuilder, MapMode, RegionInfo, SlidingWindowMapManager, StaticWindowMapManager, Stats,
};
pub use record::{MappedRecord, RecordCheckError};

/// The allocation granularity of this system: mapping offsets are multiples of it, and window
/// sizes are rounded up to multiples of twice it.
pub fn allocation_granularity() -> usize {
    sys::allocation_granularity()
}

#[cfg(feature = "derive")]
pub use smmap_derive::MappedRecord;

/// zerocopy's byte-order types: integers and floats of a fixed byte order, alignment 1.
pub mod byteorder {
    pub use zerocopy::byteorder::{
        BE, BigEndian, ByteOrder, F32, F64, I16, I32, I64, I128, Isize, LE, LittleEndian,
        NativeEndian, NetworkEndian, U16, U32, U64, U128, Usize,
    };
}

#[doc(hidden)]
pub mod __private;
