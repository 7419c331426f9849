//! One published video track as the allocator sees it: which RID is which
//! simulcast layer, what each layer costs, which keyframe requests are due,
//! and which layers the publisher was last told to send.
//!
//! Layer order: a client lists its RIDs in `a=simulcast:send` from lowest to
//! highest resolution (Cerca's web client sends `q;h;f`, as Chrome's own
//! examples do). A track without simulcast is one layer, [`Layer::LOW`], so
//! its video can still be paused when even that does not fit.

use std::time::Instant;

use str0m::media::Rid;

use crate::keyframe::{KeyframeConfig, KeyframeRequests};
use crate::layer::{Layer, LayerSet, MAX_LAYERS};
use crate::rate::RateMeter;

/// What a layer is assumed to cost while it is not arriving (paused at the
/// publisher, or not started yet), in bit/s: Chrome's defaults for a 640×360
/// camera sent at quarter, half and full resolution.
pub const NOMINAL_BPS: [u64; MAX_LAYERS] = [150_000, 500_000, 1_200_000];

#[derive(Debug, Clone)]
pub struct PublishedVideo {
    /// RID per layer, lowest first; empty without simulcast.
    rids: Vec<Rid>,
    meters: [RateMeter; MAX_LAYERS],
    pub keyframes: KeyframeRequests,
    /// The layers the publisher was last asked to send (all, at first).
    pub told_active: LayerSet,
}

impl PublishedVideo {
    /// `rids` as the publisher listed them in its offer, lowest first; only
    /// the first [`MAX_LAYERS`] are used.
    pub fn new(rids: Vec<Rid>) -> PublishedVideo {
        PublishedVideo {
            rids: rids.into_iter().take(MAX_LAYERS).collect(),
            meters: Default::default(),
            keyframes: KeyframeRequests::new(KeyframeConfig::default()),
            told_active: LayerSet::ALL,
        }
    }

    pub fn is_simulcast(&self) -> bool {
        !self.rids.is_empty()
    }

    /// The layer a frame with this RID belongs to; `None` for a RID the
    /// publisher did not announce.
    pub fn layer_of(&self, rid: Option<Rid>) -> Option<Layer> {
        match rid {
            None if self.rids.is_empty() => Some(Layer::LOW),
            None => None,
            Some(rid) => self.rids.iter().position(|r| *r == rid).and_then(Layer::new),
        }
    }

    pub fn rid_of(&self, layer: Layer) -> Option<Rid> {
        self.rids.get(layer.index()).copied()
    }

    pub fn layer_count(&self) -> usize {
        self.rids.len().max(1)
    }

    pub fn record(&mut self, now: Instant, layer: Layer, bytes: usize) {
        self.meters[layer.index()].record(now, bytes);
    }

    /// Cost per layer for the allocator: measured where the layer arrives,
    /// nominal where it exists but does not arrive now.
    pub fn layer_rates(&mut self, now: Instant) -> [Option<u64>; MAX_LAYERS] {
        let count = self.layer_count();
        let mut rates = [None; MAX_LAYERS];
        for layer in Layer::ALL.into_iter().take(count) {
            let i = layer.index();
            let measured = self.meters[i].bps(now).filter(|&r| r > 0);
            rates[i] = Some(measured.unwrap_or(NOMINAL_BPS[i]));
        }
        rates
    }

    /// RIDs of the layers in `set`, for telling the publisher what to send.
    pub fn rids_in(&self, set: LayerSet) -> Vec<String> {
        Layer::ALL
            .into_iter()
            .filter(|l| set.contains(*l))
            .filter_map(|l| self.rid_of(l))
            .map(|r| r.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_map_to_layers_in_offer_order() {
        let v = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        assert_eq!(v.layer_of(Some("q".into())), Some(Layer::LOW));
        assert_eq!(v.layer_of(Some("f".into())), Some(Layer::HIGH));
        assert_eq!(v.layer_of(Some("x".into())), None);
        assert_eq!(v.layer_of(None), None);
        assert_eq!(v.rid_of(Layer::MID), Some("h".into()));
    }

    #[test]
    fn a_track_without_simulcast_is_one_low_layer() {
        let mut v = PublishedVideo::new(Vec::new());
        assert_eq!(v.layer_of(None), Some(Layer::LOW));
        let rates = v.layer_rates(Instant::now());
        assert_eq!(rates, [Some(NOMINAL_BPS[0]), None, None]);
    }

    #[test]
    fn unmeasured_layers_cost_their_nominal_rate() {
        let mut v = PublishedVideo::new(vec!["q".into(), "h".into()]);
        assert_eq!(v.layer_rates(Instant::now()), [Some(150_000), Some(500_000), None]);
    }

    #[test]
    fn rids_in_names_only_the_layers_asked_for() {
        let v = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        let mut set = LayerSet::EMPTY;
        set.insert(Layer::LOW);
        set.insert(Layer::HIGH);
        assert_eq!(v.rids_in(set), vec!["q".to_string(), "f".to_string()]);
    }
}
