//! CURP (Clave Única de Registro de Población) validation.
//!
//! The CURP is how a patient's record is found again at another clinic, so a
//! mistyped one silently splits or merges clinical histories. We check it
//! against RENAPO's structure (letters, birth date, sex, state, consonants,
//! homoclave) and its check digit before storing it.
//!
//! We only validate, never generate: the homoclave (position 17) is assigned
//! by RENAPO to break ties between people with the same name and birth data,
//! so a CURP computed from a name would look right and belong to someone else.

use std::fmt;

/// RENAPO's state codes, plus "NE" (nacido en el extranjero) for people born
/// abroad.
const STATES: [&str; 33] = [
    "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN", "MS", "NT", "NL",
    "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE",
];

/// The check-digit alphabet. Ñ keeps its place after N even though a CURP
/// never contains it (RENAPO writes Ñ as X): dropping it would shift every
/// value from O onwards and break the check for most real CURPs.
const DICTIONARY: &str = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";

/// Why a CURP was rejected. The variants follow the order in which the
/// checks run, so the first problem found is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurpError {
    Length,
    Format,
    BirthDate,
    Sex,
    State,
    CheckDigit,
}

impl CurpError {
    /// A sentence for the API's error body: shown to clinic staff, who can
    /// compare it with the patient's document.
    pub fn message(&self) -> &'static str {
        match self {
            CurpError::Length => "CURP must have exactly 18 characters",
            CurpError::Format => "CURP does not follow the pattern of letters and digits that RENAPO uses",
            CurpError::BirthDate => "CURP birth date is not a real date or is in the future",
            CurpError::Sex => "CURP sex must be H, M or X",
            CurpError::State => "CURP state code is not a Mexican state or NE (born abroad)",
            CurpError::CheckDigit => "CURP check digit does not match",
        }
    }
}

impl fmt::Display for CurpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CurpError {}

/// Checks a CURP as typed (surrounding spaces and lower case are accepted,
/// because staff copy it from documents and phones) and returns it in the
/// canonical 18-character upper-case form that is stored and compared.
pub fn validate(input: &str) -> Result<String, CurpError> {
    let trimmed = input.trim();
    // Counted in chars, not bytes, so that "18 letters with an accent" is
    // reported as a format problem rather than a length one.
    if trimmed.chars().count() != 18 {
        return Err(CurpError::Length);
    }
    // A valid CURP is pure ASCII; checking that first makes byte indexing
    // below safe for any input, including Ñ, accents and emoji.
    if !trimmed.is_ascii() {
        return Err(CurpError::Format);
    }
    let curp = trimmed.to_ascii_uppercase();
    let b = curp.as_bytes();

    let letter = |c: u8| c.is_ascii_uppercase();
    let digit = |c: u8| c.is_ascii_digit();
    // Position 2 is the first inner vowel of the first surname, or X when
    // there is none (or when RENAPO replaces an offensive word).
    let vowel_or_x = |c: u8| matches!(c, b'A' | b'E' | b'I' | b'O' | b'U' | b'X');
    let consonant = |c: u8| letter(c) && !matches!(c, b'A' | b'E' | b'I' | b'O' | b'U');
    let well_formed = letter(b[0])
        && vowel_or_x(b[1])
        && letter(b[2])
        && letter(b[3])
        && b[4..10].iter().all(|&c| digit(c))
        && b[13..16].iter().all(|&c| consonant(c))
        && (letter(b[16]) || digit(b[16]))
        && digit(b[17]);
    if !well_formed {
        return Err(CurpError::Format);
    }

    // RENAPO uses a digit homoclave for people born before 2000 and a letter
    // from 2000 on; that is the only place the century is recorded.
    let century = if digit(b[16]) { 1900 } else { 2000 };
    let year = century + two_digits(b[4], b[5]);
    let month = two_digits(b[6], b[7]);
    let day = two_digits(b[8], b[9]);
    if month == 0 || month > 12 || day == 0 || day > days_in_month(year, month) {
        return Err(CurpError::BirthDate);
    }
    if let Some(today) = today_utc() {
        // UTC is ahead of every Mexican time zone, so a baby registered late
        // on its birth day is never rejected.
        if (year, month, day) > today {
            return Err(CurpError::BirthDate);
        }
    }

    // X (non-binary) has been issued since 2022.
    if !matches!(b[10], b'H' | b'M' | b'X') {
        return Err(CurpError::Sex);
    }
    if !STATES.contains(&&curp[11..13]) {
        return Err(CurpError::State);
    }
    if check_digit(&b[..17]) != b[17] - b'0' {
        return Err(CurpError::CheckDigit);
    }
    Ok(curp)
}

/// RENAPO's check digit over the first 17 characters: the weighted sum with
/// weights 18 down to 2, and the digit that tops it up to a multiple of 10.
fn check_digit(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .enumerate()
        .map(|(i, &c)| dictionary_value(c) * (18 - i as u32))
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn dictionary_value(c: u8) -> u32 {
    DICTIONARY
        .chars()
        .position(|d| d == char::from(c))
        .map_or(0, |p| p as u32)
}

fn two_digits(tens: u8, units: u8) -> u32 {
    u32::from(tens - b'0') * 10 + u32::from(units - b'0')
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Today's civil date in UTC. `None` if the clock is before 1970, in which
/// case the future-date check is skipped rather than rejecting everyone.
fn today_utc() -> Option<(u32, u32, u32)> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(civil_from_days(secs / 86_400))
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`; std has no calendar and this crate takes no
/// dependencies for it.
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check digits below were computed by hand with RENAPO's algorithm, not
    // with the code under test, so a bug in `check_digit` cannot hide.
    const VALID: [&str; 7] = [
        "GODE561231HDFNRD05", // Mexico City, 1956
        "NUPM840312MCSXRR08", // Chiapas; X stands for the Ñ of Núñez
        "LOAM040229MOCPRRA3", // Feb 29 of a leap year, letter homoclave (2004)
        "HEGA000229HYNRRLA3", // 2000 is a leap year (divisible by 400)
        "PEXJ920715XJCRNS05", // non-binary
        "SIXJ800101HNEMXH03", // born abroad
        "MOVR190720HCHRLC07", // digit homoclave: 1919, not 2019
    ];

    #[test]
    fn accepts_valid_curps() {
        for curp in VALID {
            assert_eq!(validate(curp), Ok(curp.to_string()), "{curp}");
        }
    }

    #[test]
    fn normalises_case_and_surrounding_whitespace() {
        assert_eq!(validate("gode561231hdfnrd05"), Ok("GODE561231HDFNRD05".to_string()));
        assert_eq!(
            validate("  NupM840312mcsxrr08\t\n"),
            Ok("NUPM840312MCSXRR08".to_string())
        );
    }

    #[test]
    fn rejects_wrong_check_digit() {
        assert_eq!(validate("GODE561231HDFNRD04"), Err(CurpError::CheckDigit));
        assert_eq!(validate("NUPM840312MCSXRR09"), Err(CurpError::CheckDigit));
        // One transposed letter, the typo the check digit exists to catch.
        assert_eq!(validate("GODE561231HDFRND05"), Err(CurpError::CheckDigit));
    }

    #[test]
    fn rejects_impossible_birth_dates() {
        // Each has a correct check digit, so only the date can be at fault.
        assert_eq!(validate("GODE560230HDFNRD06"), Err(CurpError::BirthDate)); // Feb 30
        assert_eq!(validate("LOAM050229MOCPRRA0"), Err(CurpError::BirthDate)); // 2005 not leap
        assert_eq!(validate("HEGA000229HYNRRL03"), Err(CurpError::BirthDate)); // 1900 not leap
        assert_eq!(validate("GODE561331HDFNRD04"), Err(CurpError::BirthDate)); // month 13
        assert_eq!(validate("GODE561200HDFNRD00"), Err(CurpError::BirthDate)); // day 0
    }

    #[test]
    fn rejects_birth_dates_in_the_future() {
        // A letter homoclave puts these in 2056 and 2099.
        assert_eq!(validate("GODE561231HDFNRDA5"), Err(CurpError::BirthDate));
        assert_eq!(validate("PEXJ990715XJCRNSB2"), Err(CurpError::BirthDate));
    }

    #[test]
    fn rejects_bad_sex() {
        assert_eq!(validate("GODE561231JDFNRD09"), Err(CurpError::Sex));
    }

    #[test]
    fn rejects_bad_state() {
        assert_eq!(validate("GODE561231HXXNRD04"), Err(CurpError::State));
    }

    #[test]
    fn rejects_bad_format() {
        assert_eq!(validate("GDDE561231HDFNRD09"), Err(CurpError::Format)); // 2nd not a vowel
        assert_eq!(validate("GODE561231HDFARD00"), Err(CurpError::Format)); // vowel among consonants
        assert_eq!(validate("GODE56123AHDFNRD05"), Err(CurpError::Format)); // letter in the date
        assert_eq!(validate("GODE561231HDFNRD0A"), Err(CurpError::Format)); // letter check digit
        assert_eq!(validate("G0DE561231HDFNRD05"), Err(CurpError::Format)); // zero for O
        assert_eq!(validate("GODE561231HDF RD05"), Err(CurpError::Format)); // inner space
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(validate(""), Err(CurpError::Length));
        assert_eq!(validate("   "), Err(CurpError::Length));
        assert_eq!(validate("GODE561231HDFNRD0"), Err(CurpError::Length));
        assert_eq!(validate("GODE561231HDFNRD055"), Err(CurpError::Length));
    }

    #[test]
    fn non_ascii_input_is_rejected_without_panicking() {
        assert_eq!(validate("ÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑ"), Err(CurpError::Format));
        assert_eq!(validate("NÚPM840312MCSXRR08"), Err(CurpError::Format));
        assert_eq!(validate("NUPM840312MCSÑRR08"), Err(CurpError::Format));
        assert_eq!(validate("🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂"), Err(CurpError::Format));
        assert_eq!(validate("🙂"), Err(CurpError::Length));
        assert_eq!(validate("GODE561231HDFNRD0🙂"), Err(CurpError::Format));
        // Unicode upper-casing would turn ß into "SS" and change the length;
        // it is simply not a CURP character.
        assert_eq!(validate("GODE561231HDFNRD0ß"), Err(CurpError::Format));
        assert_eq!(validate(&"Ñ".repeat(10_000)), Err(CurpError::Length));
    }

    #[test]
    fn messages_are_sentences_for_every_error() {
        assert_eq!(CurpError::CheckDigit.to_string(), "CURP check digit does not match");
        for e in [
            CurpError::Length,
            CurpError::Format,
            CurpError::BirthDate,
            CurpError::Sex,
            CurpError::State,
            CurpError::CheckDigit,
        ] {
            assert!(e.message().starts_with("CURP "), "{e:?}");
            assert_eq!(e.to_string(), e.message());
        }
    }

    #[test]
    fn every_state_code_is_accepted() {
        for state in STATES {
            let mut first17 = format!("GODE561231H{state}NRD0").into_bytes();
            let digit = check_digit(&first17);
            first17.push(b'0' + digit);
            let curp = String::from_utf8(first17).unwrap();
            assert_eq!(validate(&curp), Ok(curp.clone()));
        }
    }

    #[test]
    fn civil_dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
