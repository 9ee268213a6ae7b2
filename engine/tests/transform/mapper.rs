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

/// The mapper with the limits the engine uses: the wall clock granted.
fn load_mapper(spec: &str) -> wb_engine::transform::WasmTransform {
    let path = guests::build("sdk/mapper-component");
    host()
        .load_file(
            "users",
            &path,
            vec![("spec".into(), spec.into())],
            wb_engine::transform::Limits {
                wall_clock: true,
                ..limits()
            },
        )
        .unwrap()
}

fn values(op: &wb_engine::transform::RowOp<'_>) -> Vec<(String, Cell<'static>)> {
    op.values
        .iter()
        .map(|c| (c.name.to_string(), c.value.clone().into_owned()))
        .collect()
}

#[test]
fn rdi_functions_run_inside_the_component() {
    let transform = load_mapper(
        "output target users upsert
key id key_part(1)
value digest hash(email, 'sha256')
value digest_md5 hash(email, 'md5')
value digest_sha1 hash(email, 'sha1')
value phone regex_replace(phone, '[^0-9]+', '')
value age_days time_delta_days(born)
value age_seconds time_delta_seconds(born)
value id1 uuid()
value id2 uuid()
",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let born = now - 10 * 86_400 - 30;
    let out = transform
        .run(&[change(
            "user:1",
            ValueData::Hash(vec![
                (b"email".to_vec(), b"abc".to_vec()),
                (b"phone".to_vec(), b"+1 (555) 010-99".to_vec()),
                (b"born".to_vec(), born.to_string().into_bytes()),
            ]),
        )])
        .unwrap();
    let ops = out.get(0).unwrap().unwrap();
    let got = values(&ops[0]);
    let text = |name: &str| match &got.iter().find(|(n, _)| n == name).unwrap().1 {
        Cell::Text(t) => t.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    let int = |name: &str| match &got.iter().find(|(n, _)| n == name).unwrap().1 {
        Cell::Integer(i) => *i,
        other => panic!("{name}: {other:?}"),
    };
    // Published digests of "abc" (FIPS 180, RFC 1321).
    assert_eq!(
        text("digest"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(text("digest_md5"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        text("digest_sha1"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(text("phone"), "155501099");
    // The guest reads the host's real clock.
    assert_eq!(int("age_days"), 10);
    let seconds = int("age_seconds");
    assert!(
        (10 * 86_400 + 30..10 * 86_400 + 40).contains(&seconds),
        "{seconds}"
    );
    let (id1, id2) = (text("id1"), text("id2"));
    assert_ne!(id1, id2, "random, not a fixed seed");
    assert_eq!(id1.len(), 36);
    assert_eq!(&id1[14..15], "4", "version 4: {id1}");
}

#[test]
fn without_the_wall_clock_time_deltas_reject_the_record() {
    let path = guests::build("sdk/mapper-component");
    let spec = "output target users upsert\nkey id key_part(1)\nvalue d time_delta_days(born)\n";
    let transform = host()
        .load_file("users", &path, vec![("spec".into(), spec.into())], limits())
        .unwrap();
    let out = transform
        .run(&[change(
            "user:1",
            ValueData::Hash(vec![(b"born".to_vec(), b"2020-01-01".to_vec())]),
        )])
        .unwrap();
    let err = out.get(0).unwrap().unwrap_err().to_string();
    assert!(
        err.contains("time_delta_days: this transform has no wall clock"),
        "{err}"
    );
}

const MAP_JOB: &str = r#"
source:
  redis:
    key_pattern: "order:*"
transform:
  - uses: map
    with:
      expression: |
        {
          customer: upper(customer.name),
          skus: items[?qty > `0`].sku,
          total: sum(items[*].price),
          first_sku: items[0].sku
        }
      language: jmespath
output:
  - uses: relational.write
    with:
      connection: target
      table: orders
      keys: [{id: "key_part(1)"}]
      mapping: [customer, {skus: "join(',', skus)"}, total, {note: customer.name}]
      load_strategy: REPLACE
"#;

#[test]
fn a_map_block_and_replace_run_through_the_component() {
    let file = std::path::Path::new("jobs/orders.yaml");
    let job = wb_engine::config::Job::parse(file, MAP_JOB).unwrap();
    let spec = job.to_mapper_spec(file, MAP_JOB).unwrap();
    let transform = load_mapper(&spec.to_string());
    let doc = r#"{"customer": {"name": "Ada"},
                  "items": [{"sku": "a1", "qty": 2, "price": 3},
                            {"sku": "b2", "qty": 0, "price": 4},
                            {"sku": "c3", "qty": 1, "price": 5}]}"#;
    let out = transform
        .run(&[change("order:9", ValueData::Json(doc.into()))])
        .unwrap();
    let ops = out.get(0).unwrap().unwrap();
    let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
    assert_eq!(kinds, vec![OpKind::Delete, OpKind::Insert]);
    assert_eq!(ops[0].key[0].value, Cell::from("9"));
    assert_eq!(ops[1].key[0].value, Cell::from("9"));
    assert_eq!(
        values(&ops[1]),
        vec![
            ("customer".to_string(), Cell::from("ADA")),
            ("skus".to_string(), Cell::from("a1,c3")),
            ("total".to_string(), Cell::Integer(12)),
            // The map replaced the record: the document's fields are gone.
            ("note".to_string(), Cell::Null),
        ]
    );
}
