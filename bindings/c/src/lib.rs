//! C ABI of sqlkeep (being written).
