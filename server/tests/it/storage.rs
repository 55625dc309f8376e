//! The storage layer against SQLite and, when configured, PostgreSQL.

use crate::common::TestDb;
use jiliang_protocol::institutions::InstitutionLevel;
use jiliang_server::store::institutions::NewInstitution;

fn inst(parent: Option<uuid::Uuid>, level: InstitutionLevel, name: &str) -> NewInstitution {
    NewInstitution {
        parent_id: parent,
        level,
        name_zh: name.to_owned(),
        name_en: None,
        region_code: "620000".to_owned(),
        contact: String::new(),
    }
}

backend_tests!(
    migrations_are_idempotent_and_ping_works,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let store = db.store().await;
        store.migrate().await.expect("second migration is a no-op");
        store.ping().await.expect("ping");
        store.close().await;
        db.cleanup().await;
    }
);

backend_tests!(institution_tree_round_trips, |backend| async move {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let root = store
        .insert_institution(&inst(
            None,
            InstitutionLevel::Provincial,
            "甘肃省计量研究院",
        ))
        .await
        .expect("insert root");
    let city = store
        .insert_institution(&inst(
            Some(root.institution.id),
            InstitutionLevel::City,
            "天水市计量测试所",
        ))
        .await
        .expect("insert child");
    assert!(root.contains(&city));
    assert!(!city.contains(&root));

    let back = store
        .get_institution(city.institution.id)
        .await
        .expect("get");
    assert_eq!(back.institution, city.institution);
    assert_eq!(
        back.path,
        format!("/{}/{}/", root.institution.id, city.institution.id)
    );

    let found = store
        .find_institution(Some(root.institution.id), "天水市计量测试所")
        .await
        .expect("find");
    assert_eq!(found.map(|f| f.institution.id), Some(city.institution.id));
    let root_found = store
        .find_institution(None, "甘肃省计量研究院")
        .await
        .expect("find");
    assert_eq!(
        root_found.map(|f| f.institution.id),
        Some(root.institution.id)
    );

    // The same name twice under one parent is a conflict, not a duplicate row.
    let dup = store
        .insert_institution(&inst(
            Some(root.institution.id),
            InstitutionLevel::City,
            "天水市计量测试所",
        ))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(&dup, sqlx::Error::Database(e) if e.is_unique_violation()),
        "{dup:?}"
    );

    let missing = store
        .get_institution(uuid::Uuid::now_v7())
        .await
        .expect_err("missing");
    assert!(matches!(missing, sqlx::Error::RowNotFound));

    let all = store.list_institutions().await.expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0].institution.id, root.institution.id,
        "parents come first"
    );
    store.close().await;
    db.cleanup().await;
});

backend_tests!(demo_seed_is_idempotent, |backend| async move {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let first = jiliang_server::demo::seed(&store).await.expect("seed");
    assert_eq!(first.institutions_created, 12);
    let second = jiliang_server::demo::seed(&store)
        .await
        .expect("seed again");
    assert_eq!(second.institutions_created, 0);
    assert_eq!(second.institutions_existing, 12);
    let all = store.list_institutions().await.expect("list");
    assert_eq!(all.len(), 12);
    let counties = all
        .iter()
        .filter(|i| i.institution.level == InstitutionLevel::County)
        .count();
    assert_eq!(counties, 6);
    store.close().await;
    db.cleanup().await;
});
