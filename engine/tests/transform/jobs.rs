//! The example jobs' components in `jobs/`, run through the engine's host.

use wb_engine::transform::{Cell, ChangeData, OpKind, TransformError, ValueData};

use wb_tests::guests;

use crate::{host, limits};

fn customer(id: &str, fields: &[(&str, &str)]) -> ChangeData {
    ChangeData {
        key: format!("customer:{id}").into_bytes(),
        event: "hset".into(),
        stream_id: "1-0".into(),
        value: ValueData::Hash(
            fields
                .iter()
                .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        ),
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn mask_pii_masks_derives_deletes_and_rejects() {
    let path = guests::build("jobs/mask-pii");
    let transform = host()
        .load_file(
            "mask-pii",
            &path,
            params(&[("mask", "email, phone"), ("table", "customers")]),
            limits(),
        )
        .unwrap();
    let batch = [
        customer(
            "1",
            &[
                ("name", "Ada"),
                ("email", "ada@Example.com"),
                ("phone", "+44 20 7946 0958"),
                ("spend", "1500"),
            ],
        ),
        customer("2", &[("name", "Bob"), ("spend", "lots")]),
        ChangeData {
            key: b"customer:3".to_vec(),
            event: "del".into(),
            stream_id: "1-1".into(),
            value: ValueData::Missing,
        },
    ];
    let out = transform.run(&batch).unwrap();

    let ada = &out.get(0).unwrap().unwrap()[0];
    assert_eq!(ada.kind, OpKind::Upsert);
    assert_eq!(ada.target.table, "customers");
    assert_eq!(ada.key[0].value, Cell::from("1"));
    let columns: Vec<_> = ada
        .values
        .iter()
        .map(|c| (c.name.as_ref(), c.value.clone()))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("name", Cell::from("Ada")),
            ("email", Cell::from("a***@Example.com")),
            ("email_domain", Cell::from("example.com")),
            ("phone", Cell::from("***0958")),
            ("vip", Cell::Bool(true)),
        ]
    );

    assert_eq!(
        out.get(1).unwrap().unwrap_err(),
        TransformError::Rejected("spend \"lots\" is not a number".into())
    );

    let gone = &out.get(2).unwrap().unwrap()[0];
    assert_eq!(gone.kind, OpKind::Delete);
    assert_eq!(gone.key[0].value, Cell::from("3"));
}

#[test]
fn mask_pii_leaves_unlisted_fields_in_clear() {
    let path = guests::build("jobs/mask-pii");
    let transform = host()
        .load_file("mask-pii", &path, params(&[("mask", "phone")]), limits())
        .unwrap();
    let out = transform
        .run(&[customer("9", &[("email", "eve@example.org")])])
        .unwrap();
    let row = &out.get(0).unwrap().unwrap()[0];
    assert_eq!(row.values[1].value, Cell::from("eve@example.org"));
    assert_eq!(row.values[3].value, Cell::Null);
}
