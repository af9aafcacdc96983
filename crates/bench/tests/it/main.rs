//! The benchmark program run as a user would: `gamestore-bench --quick`
//! against the real lobby. Checks that every scenario ran and produced
//! sane numbers; speed itself is reported by the bench, never asserted.

mod quick;
