//! Who may see what, in one place. A specialist sees their own consults and
//! those consults' patients (plus patients they registered); clinic staff see
//! their clinic's; an admin manages accounts and sees no clinical data.
//!
//! Each scope is a SQL condition over three parameters bound in the order
//! [`Scope::binds`] gives (role, user id, clinic), so list queries filter in
//! the database and single-record reads use the same rule.

use crate::auth::CurrentUser;

/// The three values every scope condition reads.
pub struct Scope {
    pub role: &'static str,
    pub user_id: i64,
    pub clinic: Option<String>,
}

impl Scope {
    pub fn of(user: &CurrentUser) -> Scope {
        Scope {
            role: user.role.as_str(),
            user_id: user.id,
            clinic: user.clinic_clues.clone(),
        }
    }
}

/// Condition on a `patients p` row; `n` is the first of three placeholders.
pub fn patient_condition(n: usize) -> String {
    let (role, uid, clinic) = (n, n + 1, n + 2);
    format!(
        "(($${role} = 'specialist' AND (p.created_by = $${uid} OR EXISTS (SELECT 1 FROM consults sc \
           WHERE sc.patient_id = p.id AND sc.specialist_id = $${uid}))) \
         OR ($${role} = 'staff' AND (p.registered_clinic = $${clinic} OR EXISTS (SELECT 1 FROM consults sc \
           WHERE sc.patient_id = p.id AND sc.clinic_clues = $${clinic}))))"
    )
    .replace("$$", "$")
}

/// Condition on a `consults c` row; `n` is the first of three placeholders.
pub fn consult_condition(n: usize) -> String {
    let (role, uid, clinic) = (n, n + 1, n + 2);
    format!(
        "(($${role} = 'specialist' AND c.specialist_id = $${uid}) \
         OR ($${role} = 'staff' AND c.clinic_clues = $${clinic}))"
    )
    .replace("$$", "$")
}

/// Binds a scope's three values onto a query, in placeholder order.
#[macro_export]
macro_rules! bind_scope {
    ($query:expr, $scope:expr) => {
        $query
            .bind($scope.role)
            .bind($scope.user_id)
            .bind($scope.clinic.clone())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_placeholders() {
        let c = consult_condition(4);
        assert!(c.contains("$4 = 'specialist'") && c.contains("$5") && c.contains("$6"));
        assert!(!c.contains("$$"));
        let p = patient_condition(1);
        assert!(p.contains("$1") && p.contains("$2") && p.contains("$3") && !p.contains("$4"));
    }
}
