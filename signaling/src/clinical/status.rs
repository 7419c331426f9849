//! The consult status machine. Every change of status goes through
//! [`ConsultStatus::can_become`], so an illegal jump (a cancelled consult
//! going into a call, a completed one rescheduled) is refused in one place.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsultStatus {
    /// Booked; the patient has not arrived.
    Scheduled,
    /// The patient is in the waiting room.
    Waiting,
    /// Admitted; the call is on.
    InCall,
    Completed,
    Cancelled,
    NoShow,
}

impl ConsultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsultStatus::Scheduled => "scheduled",
            ConsultStatus::Waiting => "waiting",
            ConsultStatus::InCall => "in_call",
            ConsultStatus::Completed => "completed",
            ConsultStatus::Cancelled => "cancelled",
            ConsultStatus::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => ConsultStatus::Scheduled,
            "waiting" => ConsultStatus::Waiting,
            "in_call" => ConsultStatus::InCall,
            "completed" => ConsultStatus::Completed,
            "cancelled" => ConsultStatus::Cancelled,
            "no_show" => ConsultStatus::NoShow,
            _ => return None,
        })
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: ConsultStatus) -> bool {
        use ConsultStatus::*;
        matches!(
            (self, next),
            (Scheduled, Waiting | Cancelled | NoShow)
                // The patient may leave the waiting room before being admitted.
                | (Waiting, InCall | Scheduled | Cancelled | NoShow)
                // A dropped call goes back to the waiting room to be re-admitted.
                | (InCall, Completed | Waiting)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            ConsultStatus::Completed | ConsultStatus::Cancelled | ConsultStatus::NoShow
        )
    }
}

#[cfg(test)]
mod tests {
    use super::ConsultStatus::*;
    use super::*;

    const ALL: [ConsultStatus; 6] = [Scheduled, Waiting, InCall, Completed, Cancelled, NoShow];

    #[test]
    fn happy_path_is_allowed() {
        assert!(Scheduled.can_become(Waiting));
        assert!(Waiting.can_become(InCall));
        assert!(InCall.can_become(Completed));
    }

    #[test]
    fn final_states_go_nowhere() {
        for from in ALL.iter().filter(|s| s.is_final()) {
            for to in ALL {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn illegal_jumps_are_refused() {
        assert!(!Scheduled.can_become(InCall));
        assert!(!Scheduled.can_become(Completed));
        assert!(!InCall.can_become(Cancelled));
        assert!(!Waiting.can_become(Completed));
        for s in ALL {
            assert!(!s.can_become(s), "{s:?} -> itself");
            assert_eq!(ConsultStatus::parse(s.as_str()), Some(s));
        }
    }
}
