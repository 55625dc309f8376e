//! Where a path belongs in the main navigation: the phone's menu button
//! names the current place ("菜单：会话"), so a page deep inside a section
//! (a room, a lab's devices) names its section.

use crate::i18n::Msg;

/// The navigation entry `path` belongs to; [`Msg::NavPageOther`] for pages
/// outside the navigation (invitations, password resets, unknown paths).
pub fn place(path: &str) -> Msg {
    let under = |p: &str| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    match path {
        "/" | "" => Msg::NavHome,
        _ if under("/sessions") => Msg::NavSessions,
        _ if under("/help") => Msg::NavHelp,
        _ if under("/rounds") => Msg::NavRounds,
        _ if under("/institutions") => Msg::NavInstitutions,
        _ if under("/certificates") => Msg::CertNavLabel,
        _ if under("/people") => Msg::NavPeople,
        _ if under("/audit") => Msg::NavAudit,
        _ if under("/account") => Msg::NavAccount,
        _ if under("/verify") => Msg::NavVerify,
        _ if under("/status") => Msg::NavStatus,
        _ if under("/login") => Msg::Login,
        _ => Msg::NavPageOther,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_its_place() {
        assert_eq!(place("/"), Msg::NavHome);
        assert_eq!(place("/sessions"), Msg::NavSessions);
        assert_eq!(place("/sessions/0190a1b2"), Msg::NavSessions);
        assert_eq!(place("/institutions/1/devices"), Msg::NavInstitutions);
        assert_eq!(place("/verify/reading/1"), Msg::NavVerify);
        assert_eq!(place("/account"), Msg::NavAccount);
        assert_eq!(place("/rounds/0190a1b2"), Msg::NavRounds);
        assert_eq!(place("/certificates"), Msg::CertNavLabel);
        assert_eq!(place("/login"), Msg::Login);
        assert_eq!(place("/sessionsx"), Msg::NavPageOther);
        assert_eq!(place("/invite/abc"), Msg::NavPageOther);
        assert_eq!(place("/reset/abc"), Msg::NavPageOther);
    }
}
