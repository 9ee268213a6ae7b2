//! The stock mapper component (`sdk/mapper-component`) through the host.

use wb_engine::transform::{Cell, ChangeData, OpKind, TransformError, ValueData};

use wb_tests::guests;

use crate::{host, limits};

const SPEC: &str = "output target public.users upsert
key user_id key_part(1)
value first_name fname
value city address.city
";

fn change(key: &str, value: ValueData) -> ChangeData {
    ChangeData {
        key: key.as_bytes().to_vec(),
        event: "hset".into(),
        stream_id: "1-0".into(),
        value,
    }
}

#[test]
fn the_mapper_component_maps_hashes_json_and_deletes() {
    let path = guests::build("sdk/mapper-component");
    let transform = host()
        .load_file("users", &path, vec![("spec".into(), SPEC.into())], limits())
        .unwrap();
    let out = transform
        .run(&[
            change(
                "user:1",
                ValueData::Hash(vec![(b"fname".to_vec(), b"Ada".to_vec())]),
            ),
            change(
                "user:2",
                ValueData::Json(r#"{"fname":"Bob","address":{"city":"Oslo"}}"#.into()),
            ),
            change("user:3", ValueData::Missing),
        ])
        .unwrap();
    let ada = &out.get(0).unwrap().unwrap()[0];
    assert_eq!(ada.kind, OpKind::Upsert);
    assert_eq!(ada.target.table, "public.users");
    assert_eq!(ada.key[0].value, Cell::from("1"));
    assert_eq!(ada.values[0].value, Cell::from("Ada"));
    assert_eq!(ada.values[1].value, Cell::Null);
    let bob = &out.get(1).unwrap().unwrap()[0];
    assert_eq!(bob.values[1].value, Cell::from("Oslo"));
    let gone = &out.get(2).unwrap().unwrap()[0];
    assert_eq!(gone.kind, OpKind::Delete);
    assert_eq!(gone.key[0].value, Cell::from("3"));
}

#[test]
fn a_bad_spec_fails_the_load_with_its_line() {
    let path = guests::build("sdk/mapper-component");
    let spec = "output target users upsert\nkey id key_part(one)\n";
    match host().load_file("users", &path, vec![("spec".into(), spec.into())], limits()) {
        Err(TransformError::Init { reason, .. }) => {
            assert!(reason.starts_with("mapper spec line 2:"), "{reason}")
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the load succeeded"),
    }
}

const JOB: &str = r#"
source:
  redis:
    key_pattern: "user:*"
transform:
  - uses: rename_field
    with: {from_field: fname, to_field: first_name}
  - uses: add_field
    with: {field: email_domain, expression: "lower(right(email, `11`))"}
  - uses: filter
    with: {expression: "status != 'test'"}
output:
  - uses: relational.write
    with:
      connection: target
      schema: public
      table: users
      keys: [{user_id: "key_part(1)"}]
      mapping: [first_name, {email: "lower(email)"}, email_domain]
  - uses: relational.write
    with:
      connection: target
      table: user_addresses
      foreach: "addr: addresses[]"
      keys: [{user_id: "key_part(1)"}]
      mapping: [{city: addr.city}]
"#;

#[test]
fn a_yaml_job_runs_through_the_mapper_component() {
    let file = std::path::Path::new("jobs/users.yaml");
    let job = wb_engine::config::Job::parse(file, JOB).unwrap();
    let spec = job.to_mapper_spec(file, JOB).unwrap();
    let path = guests::build("sdk/mapper-component");
    let transform = host()
        .load_file(
            "users",
            &path,
            vec![("spec".into(), spec.to_string())],
            limits(),
        )
        .unwrap();
    let doc = r#"{"fname":"Ada","email":"Ada@Example.COM","status":"ok",
                  "addresses":[{"city":"London"},{"city":"Oslo"}]}"#;
    let out = transform
        .run(&[
            change("user:1", ValueData::Json(doc.into())),
            change(
                "user:2",
                ValueData::Json(r#"{"fname":"T","status":"test"}"#.into()),
            ),
            change("user:3", ValueData::Missing),
        ])
        .unwrap();

    let ada = out.get(0).unwrap().unwrap();
    let kinds: Vec<_> = ada.iter().map(|op| op.kind).collect();
    assert_eq!(
        kinds,
        vec![
            OpKind::Upsert,
            OpKind::DeleteMatching,
            OpKind::Insert,
            OpKind::Insert
        ]
    );
    assert_eq!(ada[0].target.table, "public.users");
    let values: Vec<_> = ada[0].values.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            Cell::from("Ada"),
            Cell::from("ada@example.com"),
            Cell::from("example.com"),
        ]
    );
    assert_eq!(ada[3].values[0].value, Cell::from("Oslo"));

    // Filtered out: nothing is written.
    assert!(out.get(1).unwrap().unwrap().is_empty());

    // Gone: both tables lose the key's rows.
    let gone = out.get(2).unwrap().unwrap();
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().all(|op| op.kind == OpKind::Delete));
}
