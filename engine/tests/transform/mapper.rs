//! The stock mapper component (`sdk/mapper-component`) through the host.

use wb_engine::transform::{Cell, ChangeData, OpKind, TransformError, ValueData};

use crate::{guests, host, limits};

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
