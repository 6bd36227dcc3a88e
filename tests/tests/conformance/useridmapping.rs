//! [`UserIdMappingStorage`]: creating mappings (conflicts, unknown users, forced), reading them
//! by either id, their info, and removal.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;

/// Mappings: conflicts on either id, unknown users, forced creation over an id in use, reads by
/// either id (ANY prefers the supertokens match), the external info, removal.
async fn user_id_mapping(st: &dyn Storage) {
    let app = AppId::public();
    let base = TenantIdentifier::base();
    st.sign_up_with_password(&base, &uid(1), "a@x.com", "h", 1).await.unwrap();
    st.sign_up_with_password(&base, &uid(2), "b@x.com", "h", 2).await.unwrap();
    let m = |st: &str, ext: &str| UserIdMapping {
        supertokens_user_id: st.into(),
        external_user_id: ext.into(),
        external_user_id_info: None,
    };
    assert_eq!(st.create_user_id_mapping(&app, &m(&uid(1), "ext-1"), false).await.unwrap(), MappingCreate::Ok);
    assert_eq!(
        st.create_user_id_mapping(&app, &m(&uid(1), "ext-x"), false).await.unwrap(),
        MappingCreate::AlreadyExists { supertokens_id_exists: true, external_id_exists: false }
    );
    assert_eq!(
        st.create_user_id_mapping(&app, &m(&uid(2), "ext-1"), false).await.unwrap(),
        MappingCreate::AlreadyExists { supertokens_id_exists: false, external_id_exists: true }
    );
    assert_eq!(
        st.create_user_id_mapping(&app, &m(&uid(9), "ext-9"), false).await.unwrap(),
        MappingCreate::UnknownSuperTokensUserId
    );
    // uid(2) mapped to the external id that equals uid(1): ANY prefers the supertokens match
    assert_eq!(st.create_user_id_mapping(&app, &m(&uid(2), &uid(1)), true).await.unwrap(), MappingCreate::Ok);
    assert_eq!(st.get_user_id_mapping(&app, &uid(1), UserIdType::Any).await.unwrap(), Some(m(&uid(1), "ext-1")));
    assert_eq!(st.get_user_id_mapping(&app, &uid(1), UserIdType::External).await.unwrap(), Some(m(&uid(2), &uid(1))));
    assert_eq!(st.get_user_id_mapping(&app, "ext-1", UserIdType::Any).await.unwrap(), Some(m(&uid(1), "ext-1")));
    assert_eq!(st.get_user_id_mapping(&app, "ext-1", UserIdType::SuperTokens).await.unwrap(), None);
    assert!(st.update_external_user_id_info(&app, "ext-1", UserIdType::External, Some("info")).await.unwrap());
    assert_eq!(
        st.get_user_id_mapping(&app, &uid(1), UserIdType::SuperTokens)
            .await
            .unwrap()
            .unwrap()
            .external_user_id_info
            .as_deref(),
        Some("info")
    );
    assert!(st.update_external_user_id_info(&app, "ext-1", UserIdType::Any, None).await.unwrap());
    assert!(!st.update_external_user_id_info(&app, "nope", UserIdType::Any, None).await.unwrap());
    assert!(st.delete_user_id_mapping(&app, "ext-1", UserIdType::External).await.unwrap());
    assert!(!st.delete_user_id_mapping(&app, "ext-1", UserIdType::Any).await.unwrap());
    assert!(st.delete_user_id_mapping(&app, &uid(1), UserIdType::Any).await.unwrap(), "the external-id match remains");
}

conformance! {
    user_id_mapping,
}
