//! Decoding and pagination tests on responses recorded from a real GlitchTip.
