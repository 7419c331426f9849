//! Simulcast layer names shared by the allocator, the rewriter and the
//! keyframe throttle.
//!
//! Why a type and not a bare index: three parts must agree on what "layer 2"
//! is, and a `Layer` can only be built in range, so arrays indexed by it never
//! go out of bounds. The I/O layer maps RIDs or SSRCs from the SDP to a
//! `Layer`; nothing here knows about RIDs.

use std::fmt;

/// How many simulcast layers a publisher may send (low, mid, high).
pub const MAX_LAYERS: usize = 3;

/// One simulcast encoding, ordered from lowest to highest quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Layer(u8);

impl Layer {
    pub const LOW: Layer = Layer(0);
    pub const MID: Layer = Layer(1);
    pub const HIGH: Layer = Layer(2);
    pub const ALL: [Layer; MAX_LAYERS] = [Layer::LOW, Layer::MID, Layer::HIGH];

    /// `None` for an index at or above [`MAX_LAYERS`].
    pub fn new(index: usize) -> Option<Layer> {
        (index < MAX_LAYERS).then_some(Layer(index as u8))
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A set of layers, e.g. the layers of a publisher that some subscriber takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct LayerSet(u8);

impl LayerSet {
    pub const EMPTY: LayerSet = LayerSet(0);
    pub const ALL: LayerSet = LayerSet((1 << MAX_LAYERS) - 1);

    pub fn insert(&mut self, layer: Layer) {
        self.0 |= 1 << layer.0;
    }

    pub fn contains(self, layer: Layer) -> bool {
        self.0 & (1 << layer.0) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Layers in ascending order.
    pub fn iter(self) -> impl Iterator<Item = Layer> {
        Layer::ALL.into_iter().filter(move |&l| self.contains(l))
    }
}

impl FromIterator<Layer> for LayerSet {
    fn from_iter<I: IntoIterator<Item = Layer>>(iter: I) -> LayerSet {
        let mut set = LayerSet::EMPTY;
        for layer in iter {
            set.insert(layer);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_bounded_and_ordered() {
        assert_eq!(Layer::new(2), Some(Layer::HIGH));
        assert_eq!(Layer::new(3), None);
        assert!(Layer::LOW < Layer::MID && Layer::MID < Layer::HIGH);
        assert!(None < Some(Layer::LOW), "paused sorts below every layer");
    }

    #[test]
    fn layer_set_basics() {
        let set: LayerSet = [Layer::HIGH, Layer::LOW].into_iter().collect();
        assert!(set.contains(Layer::LOW) && !set.contains(Layer::MID));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Layer::LOW, Layer::HIGH]);
        assert!(LayerSet::EMPTY.is_empty());
        assert_eq!(LayerSet::ALL.iter().count(), MAX_LAYERS);
    }
}
