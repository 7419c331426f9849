//! Field checks shared by the resources: trimmed, bounded, printable text.
//! Every string a caller sends passes through one of these before it is
//! stored, so limits and messages are the same everywhere.

use crate::error::ApiError;

/// A required text field: trimmed, 1..=max characters, no control characters
/// except newlines and tabs where `multiline`.
pub fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request("validation", format!("{field} is required")));
    }
    bounded(field, value, max, multiline)
}

/// An optional text field: empty after trimming becomes `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(field, v, max, multiline).map(Some),
    }
}

/// Free text that may be empty (note sections being drafted).
pub fn free_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    bounded(field, value, max, true)
}

fn bounded(field: &str, value: &str, max: usize, multiline: bool) -> Result<String, ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::bad_request(
            "validation",
            format!("{field} must have at most {max} characters"),
        ));
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')));
    if bad {
        return Err(ApiError::bad_request(
            "validation",
            format!("{field} contains control characters"),
        ));
    }
    Ok(value.to_string())
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in
/// the domain. Deliverability is the mail server's business.
pub fn email(value: &str) -> Result<String, ApiError> {
    let value = value.trim().to_lowercase();
    let ok = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && value.matches('@').count() == 1
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "validation",
            "email is not a valid e-mail address",
        ))
    }
}

/// A Mexican phone number: 10 digits, optionally with +52 and separators.
pub fn phone(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().any(|c| !(c.is_ascii_digit() || " +-().".contains(c))) {
        return Err(ApiError::bad_request(
            "validation",
            "phone may hold only digits, spaces, +, -, ( and )",
        ));
    }
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let national = digits
        .strip_prefix("52")
        .filter(|_| digits.len() == 12)
        .unwrap_or(&digits);
    if national.len() != 10 {
        return Err(ApiError::bad_request(
            "validation",
            "phone must be a 10-digit Mexican number",
        ));
    }
    Ok(Some(format!("+52{national}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_bounds() {
        assert_eq!(text("x", "  hola ", 10, false).unwrap(), "hola");
        assert!(text("x", "   ", 10, false).is_err());
        assert!(text("x", "ñññññ", 4, false).is_err());
        assert!(text("x", "a\u{0}b", 10, false).is_err());
        assert!(text("x", "a\nb", 10, false).is_err());
        assert!(text("x", "a\nb", 10, true).is_ok());
    }

    #[test]
    fn email_and_phone() {
        assert_eq!(email(" Dra.Lopez@Clinica.MX ").unwrap(), "dra.lopez@clinica.mx");
        assert!(email("no-at-sign").is_err());
        assert!(email("a@@b.mx").is_err());
        assert_eq!(phone(Some("55 1234 5678")).unwrap().unwrap(), "+525512345678");
        assert_eq!(phone(Some("+52 (961) 123-4567")).unwrap().unwrap(), "+529611234567");
        assert!(phone(Some("123")).is_err());
        assert!(phone(Some("55-1234-567x")).is_err());
        assert_eq!(phone(Some("  ")).unwrap(), None);
    }
}
