//! The Customers tab: recorded customers with their subscription status and next renewal,
//! a portal session in one click, and a form to record a customer by hand.

use crate::web::session::{flash, user_actor, CurrentUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::clock::human;
use crate::customers::{CustomerDocument, CustomerError};
use crate::db::types::ConnectionStatus;
use crate::stripe::connect;
use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::AppState;

const TAB: &str = "/dashboard/customers/";
const PAGE_SIZE: i64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(customers_tab)
        .service(customer_record)
        .service(customer_portal);
}

struct CustomerRow {
    customer_id: String,
    name: String,
    email: String,
    /// (status, price description) per subscription.
    subscriptions: Vec<(String, String)>,
    next_renewal: String,
    fetched_at: String,
    stale: bool,
    /// Its Stripe connection has ended: shown as it was then, with no portal button.
    detached: bool,
}

impl From<CustomerDocument> for CustomerRow {
    fn from(d: CustomerDocument) -> Self {
        let next_renewal = d
            .subscriptions
            .iter()
            .filter_map(|s| s.renews_at)
            .min()
            .map(human)
            .unwrap_or_else(|| "—".into());
        let subscriptions = d
            .subscriptions
            .iter()
            .map(|s| {
                let prices: Vec<String> = s
                    .items
                    .iter()
                    .map(|i| {
                        let name = i
                            .nickname
                            .clone()
                            .or(i.product_name.clone())
                            .unwrap_or(i.price_id.clone());
                        match (i.unit_amount, &i.interval) {
                            (Some(amount), Some(interval)) => format!(
                                "{name} ({}.{:02} {} / {interval})",
                                amount / 100,
                                amount % 100,
                                i.currency.to_uppercase()
                            ),
                            _ => name,
                        }
                    })
                    .collect();
                (s.status.clone(), prices.join(", "))
            })
            .collect();
        Self {
            name: d.name.unwrap_or_default(),
            email: d.email.unwrap_or_default(),
            customer_id: d.customer_id,
            subscriptions,
            next_renewal,
            fetched_at: human(d.fetched_at),
            stale: d.stale,
            detached: d.detached,
        }
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    layout: Layout,
    connected: bool,
    customers: Vec<CustomerRow>,
    /// Whether this page lists customers of a connection that has ended.
    any_detached: bool,
    older_after: Option<String>,
}

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
}

impl From<CustomerError> for PageError {
    #[track_caller]
    fn from(e: CustomerError) -> Self {
        match e {
            CustomerError::Db(e) => PageError::internal(e),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

#[get("/dashboard/customers/")]
async fn customers_tab(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
    CurrentUser(user): CurrentUser,
) -> Result<HttpResponse, PageError> {
    let connected = matches!(
        connect::connection(&state.db, user.id).await?,
        Some(c) if c.status == ConnectionStatus::Connected
    );
    let page = state
        .customers
        .list(user.id, PAGE_SIZE, query.into_inner().after)
        .await?;
    let older_after = page
        .has_more
        .then(|| page.customers.last().map(|c| c.customer_id.clone()))
        .flatten();
    let customers: Vec<CustomerRow> = page.customers.into_iter().map(CustomerRow::from).collect();
    render(&CustomersPage {
        layout: Layout::new(&state, &session, Some(user), "customers")?,
        connected,
        any_detached: customers.iter().any(|c| c.detached),
        customers,
        older_after,
    })
}

#[derive(Deserialize)]
struct RecordForm {
    #[serde(default)]
    customer_id: String,
}

#[post("/dashboard/customers/")]
async fn customer_record(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    VerifiedForm(form): VerifiedForm<RecordForm>,
) -> Result<HttpResponse, PageError> {
    let actor = user_actor(&user, &req, &state);
    match state
        .customers
        .record(user.id, form.customer_id.trim(), None, actor)
        .await
    {
        Ok((document, _)) => flash(
            &session,
            "success",
            format!("Recorded {}.", document.customer_id),
        ),
        Err(CustomerError::Db(e)) => return Err(PageError::internal(e)),
        Err(refused) => flash(&session, "error", refused.to_string()),
    }
    Ok(see_other(TAB))
}

/// Creates a portal session and sends the browser there.
#[post("/dashboard/customers/{customer_id}/portal")]
async fn customer_portal(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CurrentUser(user): CurrentUser,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let return_url = format!("{}{TAB}", state.settings.issuer());
    match state
        .customers
        .create_portal_session(user.id, &path, Some(return_url))
        .await
    {
        Ok(portal) => Ok(see_other(&portal.url)),
        Err(CustomerError::Db(e)) => Err(PageError::internal(e)),
        Err(refused) => {
            flash(&session, "error", refused.to_string());
            Ok(see_other(TAB))
        }
    }
}
