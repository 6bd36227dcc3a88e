//! The code flows of the passwordless recipe: creating, checking and consuming codes, listing
//! and removing devices and codes, and the cron job that removes expired devices.

use super::{
    check_enabled, check_storable, contact_of, contact_value, decode_standard, device_id_hash, findable,
    generate_user_input_code, judge, link_code, link_code_hash, method_with, normalise_phone_number, CodeInput,
    CodeOutcome, CodeRules, CodeTarget, Consumed, ConsumedDevice, CreateCodeOutcome, CreatedCode, DeviceQuery, Verdict,
    CREATE_ATTEMPTS, JAVA_URL_SAFE, RECIPE_ID,
};
use crate::cdi::CdiVersion;
use crate::core::{Core, TenantEntry};
use crate::error::{CoreError, CoreResult};
use crate::ids::{Email, TenantIdentifier};
use crate::random::{bytes, ct_eq, uuid_v4};
use crate::storage::{
    Contact, CreateCodeResult, CreatePasswordlessUserResult, DeviceWithCodes, PasswordlessCode, PasswordlessDevice,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

impl Core {
    /// `POST /<tenant>/recipe/signinup/code`: a new flow (device) with its first code, or
    /// another code for an existing device.
    pub async fn pl_create_code(
        &self,
        tenant: &TenantIdentifier,
        target: CodeTarget,
        user_input_code: Option<&str>,
        version: CdiVersion,
    ) -> CoreResult<CreateCodeOutcome> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let lifetime = entry.config.passwordless_code_lifetime_ms;
        let code_for = |device_id: &[u8], salt: &[u8], device_id_hash: &str| {
            let user_input_code = match user_input_code {
                Some(c) => c.to_string(),
                None => generate_user_input_code(self.rng.as_ref()),
            };
            let link = link_code(device_id, salt, &user_input_code);
            let code = PasswordlessCode {
                code_id: uuid_v4(self.rng.as_ref()),
                device_id_hash: device_id_hash.to_string(),
                link_code_hash: link_code_hash(&link),
                created_at: self.now(),
            };
            let created = CreatedCode {
                pre_auth_session_id: device_id_hash.to_string(),
                code_id: code.code_id.clone(),
                device_id: STANDARD.encode(device_id),
                user_input_code,
                link_code: URL_SAFE_NO_PAD.encode(link),
                time_created: code.created_at,
                code_lifetime: lifetime,
            };
            (code, created)
        };
        let contact = match target {
            CodeTarget::Email(e) => Contact::Email(Email::normalise(&e).into_string()),
            CodeTarget::PhoneNumber(p) => Contact::Phone(normalise_phone_number(&p)),
            CodeTarget::DeviceId(device_id) => {
                let device_id = decode_standard(&device_id, "deviceId")?;
                let hash = device_id_hash(&device_id);
                let Some(found) = self.storage.passwordless_device(tenant, &hash).await? else {
                    return Ok(CreateCodeOutcome::RestartFlow);
                };
                let salt = decode_standard(&found.device.link_code_salt, "LinkCodeSalt")?;
                for _ in 0..CREATE_ATTEMPTS {
                    let (code, created) = code_for(&device_id, &salt, &hash);
                    match self.storage.create_passwordless_code(tenant, &code).await? {
                        CreateCodeResult::Created => return Ok(CreateCodeOutcome::Ok(created)),
                        CreateCodeResult::UnknownDevice => return Ok(CreateCodeOutcome::RestartFlow),
                        // The caller's code gives the same link code every time.
                        CreateCodeResult::DuplicateLinkCodeHash if user_input_code.is_some() => {
                            return Ok(CreateCodeOutcome::UserInputCodeAlreadyUsed)
                        }
                        CreateCodeResult::DuplicateLinkCodeHash | CreateCodeResult::DuplicateId => {}
                    }
                }
                return Err(CoreError::Internal("no free code id after several attempts".into()));
            }
        };
        check_storable(&contact)?;
        for _ in 0..CREATE_ATTEMPTS {
            let device_id = bytes::<32>(self.rng.as_ref());
            let salt = bytes::<32>(self.rng.as_ref());
            let hash = device_id_hash(&device_id);
            let (code, created) = code_for(&device_id, &salt, &hash);
            let (email, phone_number) = match &contact {
                Contact::Email(e) => (Some(e.clone()), None),
                Contact::Phone(p) => (None, Some(p.clone())),
            };
            let device = PasswordlessDevice {
                device_id_hash: hash,
                email,
                phone_number,
                link_code_salt: STANDARD.encode(salt),
                failed_attempts: 0,
            };
            // Every collision is retryable: a new device id gives a new link code too.
            if self.storage.create_passwordless_device(tenant, &device, &code).await? == CreateCodeResult::Created {
                return Ok(CreateCodeOutcome::Ok(created));
            }
        }
        Err(CoreError::Internal("no free device id after several attempts".into()))
    }

    /// `POST /<tenant>/recipe/signinup/code/check`: whether the code is right, without using
    /// it up (a wrong one still counts).
    pub async fn pl_check_code(
        &self,
        tenant: &TenantIdentifier,
        pre_auth_session_id: &str,
        input: CodeInput,
        version: CdiVersion,
    ) -> CoreResult<CodeOutcome<ConsumedDevice>> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        Ok(match self.pl_judge(tenant, &entry, pre_auth_session_id, input, false).await? {
            CodeOutcome::Ok(device) => CodeOutcome::Ok(device.into()),
            CodeOutcome::IncorrectUserInputCode { failed, maximum } => {
                CodeOutcome::IncorrectUserInputCode { failed, maximum }
            }
            CodeOutcome::ExpiredUserInputCode { failed, maximum } => {
                CodeOutcome::ExpiredUserInputCode { failed, maximum }
            }
            CodeOutcome::RestartFlow => CodeOutcome::RestartFlow,
        })
    }

    /// `POST /<tenant>/recipe/signinup/code/consume`: use the code up (every device of its
    /// e-mail or phone number goes), then sign the tenant's passwordless user with that contact
    /// in, or up. From CDI 4.0 an e-mail is marked verified.
    pub async fn pl_consume_code(
        &self,
        tenant: &TenantIdentifier,
        pre_auth_session_id: &str,
        input: CodeInput,
        version: CdiVersion,
    ) -> CoreResult<CodeOutcome<Consumed>> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let device = match self.pl_judge(tenant, &entry, pre_auth_session_id, input, true).await? {
            CodeOutcome::Ok(device) => device,
            CodeOutcome::IncorrectUserInputCode { failed, maximum } => {
                return Ok(CodeOutcome::IncorrectUserInputCode { failed, maximum })
            }
            CodeOutcome::ExpiredUserInputCode { failed, maximum } => {
                return Ok(CodeOutcome::ExpiredUserInputCode { failed, maximum })
            }
            CodeOutcome::RestartFlow => return Ok(CodeOutcome::RestartFlow),
        };
        let Some(contact) = contact_of(device.email.as_deref(), device.phone_number.as_deref()) else {
            return Err(CoreError::Internal("a passwordless device without an e-mail or phone number".into()));
        };
        let mark_verified = version >= CdiVersion::V4_0;
        let app = &tenant.app;
        let existing = match self.storage.passwordless_user_of(tenant, &contact).await? {
            Some(id) => self.storage.get_auth_user(app, &id).await?.and_then(|u| {
                let method = method_with(&u, &contact).filter(|m| m.recipe_user_id == id).cloned();
                method.map(|m| (u, m))
            }),
            None => None,
        };
        let (created_new_user, user, method_id) = match existing {
            None => {
                let id = uuid_v4(self.rng.as_ref());
                let created = self
                    .storage
                    .create_passwordless_user(
                        tenant,
                        &id,
                        device.email.as_deref(),
                        device.phone_number.as_deref(),
                        self.now(),
                    )
                    .await?;
                if created != CreatePasswordlessUserResult::Created {
                    // The contact was taken since the lookup (another consume, or an update):
                    // as the reference, the user starts again.
                    return Ok(CodeOutcome::RestartFlow);
                }
                if let (true, Some(email)) = (mark_verified, &device.email) {
                    self.storage.set_email_verified(app, &id, email).await?;
                }
                (true, self.existing_auth_user(app, &id).await?, id)
            }
            Some((user, method)) => {
                if let (true, Some(email)) = (mark_verified, &device.email) {
                    // Under the id the application uses for the login method (external when
                    // mapped), where the user object and the verification API look, as for
                    // third party (the reference writes the SuperTokens id; see
                    // COMPATIBILITY.md).
                    let shown = self.external_user_id(app, &method.recipe_user_id).await?;
                    self.storage.set_email_verified(app, &shown, email).await?;
                }
                // Codes sent to the user's other contact go too.
                if let Some(e) = method.email.as_ref().filter(|e| device.email.as_ref() != Some(*e)) {
                    self.storage.remove_passwordless_devices_of(tenant, &Contact::Email(e.clone())).await?;
                }
                if let Some(p) = method.phone_number.as_ref().filter(|p| device.phone_number.as_ref() != Some(*p)) {
                    self.storage.remove_passwordless_devices_of(tenant, &Contact::Phone(p.clone())).await?;
                }
                (false, user, method.recipe_user_id)
            }
        };
        self.record_activity(app, &user.id).await;
        let mut json = self.user_json(app, &user).await?;
        if let (true, Some(email)) = (mark_verified, &device.email) {
            // The reference marks the login method verified in its answer whatever id the
            // verification was stored under.
            let shown = self.external_user_id(app, &method_id).await?;
            for m in json.login_methods.iter_mut() {
                if m.recipe_user_id == shown && m.email.as_ref() == Some(email) {
                    m.verified = true;
                }
            }
        }
        // As the reference: the first passwordless login method with the device's contact.
        let recipe_user_id = json
            .login_methods
            .iter()
            .find(|m| {
                m.recipe_id == RECIPE_ID
                    && (device.email.is_none() || m.email == device.email)
                    && (device.phone_number.is_none() || m.phone_number == device.phone_number)
            })
            .map(|m| m.recipe_user_id.clone());
        Ok(CodeOutcome::Ok(Consumed { created_new_user, user: json, recipe_user_id, device: device.into() }))
    }

    /// Find the device and the link-code hash a submitted code names, refuse a device that is
    /// not the session's, and have the storage judge the code under the device's lock.
    async fn pl_judge(
        &self,
        tenant: &TenantIdentifier,
        entry: &TenantEntry,
        pre_auth_session_id: &str,
        input: CodeInput,
        consume: bool,
    ) -> CoreResult<CodeOutcome<PasswordlessDevice>> {
        let rules = CodeRules {
            now: self.now(),
            lifetime: entry.config.passwordless_code_lifetime_ms,
            max_attempts: entry.config.passwordless_max_code_input_attempts,
            typed: matches!(input, CodeInput::UserInputCode { .. }),
            consume,
        };
        let (device_id_hash, link_hash) = match input {
            CodeInput::LinkCode(link) => {
                let link =
                    JAVA_URL_SAFE.decode(&link).map_err(|_| CoreError::bad("Input encoding error in linkCode"))?;
                let link_hash = link_code_hash(&link);
                match self.storage.passwordless_code_by_link_hash(tenant, &link_hash).await? {
                    Some(code) if code.created_at >= rules.now - rules.lifetime => (code.device_id_hash, link_hash),
                    _ => return Ok(CodeOutcome::RestartFlow),
                }
            }
            CodeInput::UserInputCode { device_id, user_input_code } => {
                let device_id = decode_standard(&device_id, "deviceId")?;
                let hash = device_id_hash(&device_id);
                let Some(found) = self.storage.passwordless_device(tenant, &hash).await? else {
                    return Ok(CodeOutcome::RestartFlow);
                };
                let salt = decode_standard(&found.device.link_code_salt, "LinkCodeSalt")?;
                (hash, link_code_hash(&link_code(&device_id, &salt, &user_input_code)))
            }
        };
        if !ct_eq(&device_id_hash, &pre_auth_session_id.replace('=', "")) {
            return Err(CoreError::bad("preAuthSessionId and deviceId doesn't match"));
        }
        let decide = move |d: Option<&PasswordlessDevice>, c: Option<&PasswordlessCode>| judge(d, c, &rules).0;
        let (device, code) = self.storage.judge_passwordless_code(tenant, &device_id_hash, &link_hash, &decide).await?;
        let maximum = rules.max_attempts;
        Ok(match (judge(device.as_ref(), code.as_ref(), &rules).1, device) {
            (Verdict::Accept, Some(device)) => CodeOutcome::Ok(device),
            (Verdict::Incorrect(failed), _) => CodeOutcome::IncorrectUserInputCode { failed, maximum },
            (Verdict::Expired(failed), _) => CodeOutcome::ExpiredUserInputCode { failed, maximum },
            _ => CodeOutcome::RestartFlow,
        })
    }

    /// `GET /<tenant>/recipe/signinup/codes`: the devices asked for with their codes, and the
    /// tenant's code lifetime.
    pub async fn pl_devices(
        &self,
        tenant: &TenantIdentifier,
        query: DeviceQuery,
    ) -> CoreResult<(Vec<DeviceWithCodes>, i64)> {
        let entry = self.tenant(tenant).await?;
        let lifetime = entry.config.passwordless_code_lifetime_ms;
        let contact = match query {
            DeviceQuery::Email(e) => Contact::Email(Email::normalise(&e).into_string()),
            DeviceQuery::PhoneNumber(p) => Contact::Phone(normalise_phone_number(&p)),
            DeviceQuery::DeviceId(id) => {
                let hash = device_id_hash(&decode_standard(&id, "deviceId")?);
                return Ok((self.storage.passwordless_device(tenant, &hash).await?.into_iter().collect(), lifetime));
            }
            DeviceQuery::PreAuthSessionId(hash) => {
                let found = if findable(&hash) { self.storage.passwordless_device(tenant, &hash).await? } else { None };
                return Ok((found.into_iter().collect(), lifetime));
            }
        };
        let devices = if findable(contact_value(&contact)) {
            self.storage.passwordless_devices_of(tenant, &contact).await?
        } else {
            Vec::new()
        };
        Ok((devices, lifetime))
    }

    /// `POST /<tenant>/recipe/signinup/codes/remove`: every device of an e-mail or phone number.
    pub async fn pl_remove_devices_of(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone_number: Option<&str>,
    ) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if let Some(contact) = contact_of(email, phone_number).filter(|c| findable(contact_value(c))) {
            self.storage.remove_passwordless_devices_of(tenant, &contact).await?;
        }
        Ok(())
    }

    /// `POST /<tenant>/recipe/signinup/code/remove` by code id: the code, and its device with
    /// it when it was the last one.
    pub async fn pl_remove_code(&self, tenant: &TenantIdentifier, code_id: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if !findable(code_id) {
            return Ok(());
        }
        Ok(self.storage.remove_passwordless_code(tenant, code_id).await?)
    }

    /// `POST /<tenant>/recipe/signinup/code/remove` by `preAuthSessionId` (CDI 5.0+): the device.
    pub async fn pl_remove_device(&self, tenant: &TenantIdentifier, pre_auth_session_id: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if !findable(pre_auth_session_id) {
            return Ok(());
        }
        Ok(self.storage.remove_passwordless_device(tenant, pre_auth_session_id).await?)
    }

    /// The cron job: each tenant's devices whose codes are all older than its code lifetime.
    pub async fn delete_expired_passwordless_devices(&self, now: i64) -> CoreResult<u64> {
        let mut deleted = 0;
        for record in self.storage.list_tenants().await? {
            let entry = match self.tenant(&record.id).await {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(tenant = %record.id.tenant, app = %record.id.app, "skipping the tenant: {e}");
                    continue;
                }
            };
            let cutoff = now - entry.config.passwordless_code_lifetime_ms;
            deleted += self.storage.delete_expired_passwordless_devices(&record.id, cutoff).await?;
        }
        Ok(deleted)
    }
}
