//! Cerca's SFU engine: routing, simulcast layer allocation and RTP
//! rewriting (issue #3). The parts land here as they are built.
