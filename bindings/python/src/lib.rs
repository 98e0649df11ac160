//! Python binding of sqlkeep (being written).
