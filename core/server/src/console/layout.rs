//! The frame of a signed-in page: the header (where you are, the environment's
//! revision and last change, the key signed in, sign out), the sections, and
//! the CSRF field every form carries.

use maud::{DOCTYPE, Markup, html};

use super::session::{CSRF_FIELD, Session};
use super::view::{Place, Section, head, section_url, short_time};

/// A whole page: the header with the signed-in key, the navigation of `place`
/// (organisation → project → environment, revision and last change), the body.
pub fn page(
    title: &str,
    session: &Session,
    place: Option<(&Place, Section)>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "flagedge" }
                    @if let Some((place, _)) = place {
                        nav.crumbs aria-label="Where you are" {
                            a href="/" { (place.organisation) }
                            span.sep { "/" }
                            a href={ "/#project-" (place.project_id) } { (place.project) }
                            span.sep { "/" }
                            details.switch {
                                summary { strong { (place.environment) } }
                                ul {
                                    @for (name, key) in &place.siblings {
                                        li { a href=(section_url(key, Section::Features)) { (name) } }
                                    }
                                }
                            }
                        }
                        span.revision title="The environment's revision and its last change" {
                            "revision " code { (place.revision) }
                            " · changed " time datetime=(place.updated_at) { (short_time(&place.updated_at)) }
                        }
                    }
                    a.fleet-link href="/fleet" { "Edges" }
                    form.signout method="post" action="/sign-out" {
                        (csrf(session))
                        span.who { "key " code { (session.key_name) } }
                        button type="submit" { "Sign out" }
                    }
                }
                @if let Some((place, current)) = place {
                    nav.sections aria-label="Sections" {
                        @for section in Section::ALL {
                            @if section == current {
                                a href=(section_url(&place.api_key, section)) aria-current="page" { (section.label()) }
                            } @else {
                                a href=(section_url(&place.api_key, section)) { (section.label()) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}
