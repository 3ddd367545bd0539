use std::path::Path;

use diesel::{Connection, PgConnection, RunQueryDsl};

/// A database for one test. PostgreSQL databases are dropped when the test ends.
pub enum TestDatabase {
    Sqlite {
        url: String,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    pub async fn create(dir: &Path) -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let admin_url = without_tls(&admin_url);
                let name = format!("bk_test_{}", bridgekeeper::crypto::hex(&rand_bytes()));
                let (admin, db_name) = (admin_url.clone(), name.clone());
                tokio::task::spawn_blocking(move || {
                    let mut conn = PgConnection::establish(&admin)
                        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL unreachable: {e}"));
                    diesel::sql_query(format!("CREATE DATABASE {db_name}"))
                        .execute(&mut conn)
                        .expect("create test database");
                })
                .await
                .expect("create task");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                TestDatabase::Postgres {
                    url: url.to_string(),
                    admin_url,
                    name,
                }
            }
            _ => TestDatabase::Sqlite {
                url: format!("sqlite://{}", dir.join("test.db").display()),
            },
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

/// Loopback needs no TLS, and libpq's OpenSSL state torn down at process exit while
/// servers of finished tests still hold connections can crash the test binary.
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

fn rand_bytes() -> [u8; 8] {
    let token = bridgekeeper::crypto::random_token(8);
    let digest = bridgekeeper::crypto::sha256(token.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
        {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}
