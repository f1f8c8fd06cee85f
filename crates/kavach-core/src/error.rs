//! One error type for the whole core. Every error has a stable upper-snake `code`
//! (better-auth compatible where better-auth has one), a human `message`, and a
//! [`Kind`] that the HTTP layer maps to a status code. Internal errors never leak
//! their details to clients.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unprocessable,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Bad configuration: refused at start, or by the CLI.
    Config,
    /// A bug or an unavailable dependency (database down). Logged, answered with 500/503.
    Internal,
    Unavailable,
}

/// The error codes Kavach itself emits: one catalogue, rendered as better-auth's strings
/// (`Code::InvalidEmailOrPassword.as_str() == "INVALID_EMAIL_OR_PASSWORD"`), each listed in
/// docs/api.md's "Error codes" table (a test checks that the two agree). [`Error::code`] stays
/// a string, so embedders can make their own codes (`Error::new(kind, "PROJECT_NOT_FOUND", ..)`);
/// `Error::new(kind, Code::X, ..)` is how Kavach makes its own. A code never changes once
/// released. No code has one kind for every use (`DATABASE_ERROR` is `Internal` or
/// `Unavailable`, `TOO_MANY_REQUESTS` carries its retry delay), so the kind stays explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    ValidationError,
    InvalidJson,
    InvalidForm,
    InvalidEncoding,
    UnsupportedMediaType,
    BodyTooLarge,
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    InvalidEmail,
    InvalidName,
    InvalidImage,
    PasswordTooShort,
    PasswordTooLong,
    PasswordTooCommon,
    PasswordTooPredictable,
    InvalidText,
    EmailPasswordDisabled,
    UserAlreadyExistsUseAnotherEmail,
    UserAlreadyExists,
    InvalidEmailOrPassword,
    EmailNotVerified,
    BannedUser,
    InvalidCallbackUrl,
    InvalidToken,
    InvalidPassword,
    CredentialAccountNotFound,
    EmailIsTheSame,
    EmailAlreadyInUse,
    NoFieldsToUpdate,
    SessionNotFound,
    SessionNotFresh,
    MissingOrNullOrigin,
    InvalidOrigin,
    CrossSiteNavigationLoginBlocked,
    InvalidRequest,
    ImportFileInvalid,
    ImportSourceInvalid,
    ImportBadValue,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
    DatabaseError,
    RedisError,
    SmtpError,
    Config,
    InvalidPermission,
    RoleNotFound,
    OrganizationCreationNotAllowed,
    OrganizationLimitReached,
    OrganizationAlreadyExists,
    OrganizationSlugTaken,
    InvalidSlug,
    OrganizationNotFound,
    NotAMember,
    NoActiveOrganization,
    OrganizationUpdateNotAllowed,
    OrganizationDeleteNotAllowed,
    AlreadyMember,
    MemberNotFound,
    MemberUpdateNotAllowed,
    MemberDeleteNotAllowed,
    MemberCreateNotAllowed,
    LastOwner,
    MembershipLimitReached,
    InviteNotAllowed,
    InviteRoleNotAllowed,
    AlreadyInvited,
    InvitationNotFound,
    NotInvitationRecipient,
    InvitationNeedsVerifiedEmail,
    InvitationCancelNotAllowed,
    InvitationLimitReached,
    TeamNotFound,
    TeamAlreadyExists,
    TeamLimitReached,
    TeamMemberLimitReached,
    NotATeamMember,
    TeamCreateNotAllowed,
    TeamUpdateNotAllowed,
    TeamDeleteNotAllowed,
    RoleCreateNotAllowed,
    RoleUpdateNotAllowed,
    RoleDeleteNotAllowed,
    RoleReadNotAllowed,
    RoleNameTaken,
    PredefinedRole,
    RoleInUse,
    TooManyRoles,
    AdminNotAllowed,
    UserNotFound,
    CannotBanYourself,
    CannotRemoveYourself,
    CannotImpersonateAdmins,
    ImpersonationNested,
    NotImpersonating,
    AgentsDisabled,
    AgentNotFound,
    AgentActionNotAllowed,
    InvalidAgent,
    TooManyAgents,
    AgentRevoked,
    DelegationNotAllowed,
    DelegationTooDeep,
    InvalidResourcePattern,
    InvalidConstraints,
    InvalidAction,
    ApprovalNotFound,
    ApprovalNotPending,
    TwoFactorDisabled,
    TwoFactorRequired,
    TwoFactorNotEnabled,
    TotpNotEnabled,
    TotpAlreadyEnabled,
    OtpNotEnabled,
    OtpNotConfigured,
    OtpHasExpired,
    BackupCodesNotEnabled,
    InvalidCode,
    InvalidBackupCode,
    InvalidTwoFactorCookie,
    TooManyAttemptsRequestNewCode,
    AccountTemporarilyLocked,
    MagicLinkDisabled,
    EmailOtpDisabled,
    InvalidOtp,
    OtpExpired,
    TooManyAttempts,
    ChangeEmailDisabled,
    AnonymousDisabled,
    AnonymousCannotSignInAgain,
    DeleteAnonymousUserDisabled,
    UserIsNotAnonymous,
    AnonymousUserNotAllowed,
    PhoneNumberDisabled,
    SmsNotConfigured,
    InvalidPhoneNumber,
    PhoneNumberExist,
    PhoneNumberNotExist,
    InvalidPhoneNumberOrPassword,
    PhoneNumberNotVerified,
    ApiKeyDisabled,
    KeyNotFound,
    InvalidApiKey,
    KeyDisabled,
    KeyExpired,
    UsageExceeded,
    RateLimited,
    InvalidPrefixLength,
    InvalidNameLength,
    InvalidMetadataType,
    MetadataDisabled,
    ExpiresInIsTooSmall,
    ExpiresInIsTooLarge,
    RefillAmountAndIntervalRequired,
    InvalidRemaining,
    NoValuesToUpdate,
    NameRequired,
    ServerOnlyProperty,
    SignUpDisabled,
    UsernameDisabled,
    UsernameIsAlreadyTaken,
    UsernameTooShort,
    UsernameTooLong,
    SiweDisabled,
    InvalidSiweMessage,
    InvalidOrExpiredNonce,
    SiweMessageMismatch,
    SiweMessageExpired,
    SiweMessageNotYetValid,
    InvalidSiweSignature,
    WalletAlreadyLinked,
    WalletNotFound,
    LastSignInMethod,
    PasskeyDisabled,
    ChallengeNotFound,
    FailedToVerifyRegistration,
    AuthenticationFailed,
    PasskeyNotFound,
    PreviouslyRegistered,
    InvalidPasskeyName,
    OneTapDisabled,
    InvalidIdToken,
    AccountNotLinked,
    FieldNotAllowed,
    InvalidUsername,
    InvalidDisplayUsername,
    InvalidUsernameOrPassword,
}

impl Code {
    /// Every code, in the order of the documentation.
    pub const ALL: &'static [Code] = &[
        Code::ValidationError,
        Code::InvalidJson,
        Code::InvalidForm,
        Code::InvalidEncoding,
        Code::UnsupportedMediaType,
        Code::BodyTooLarge,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Unauthorized,
        Code::InvalidEmail,
        Code::InvalidName,
        Code::InvalidImage,
        Code::PasswordTooShort,
        Code::PasswordTooLong,
        Code::PasswordTooCommon,
        Code::PasswordTooPredictable,
        Code::InvalidText,
        Code::EmailPasswordDisabled,
        Code::UserAlreadyExistsUseAnotherEmail,
        Code::UserAlreadyExists,
        Code::InvalidEmailOrPassword,
        Code::EmailNotVerified,
        Code::BannedUser,
        Code::InvalidCallbackUrl,
        Code::InvalidToken,
        Code::InvalidPassword,
        Code::CredentialAccountNotFound,
        Code::EmailIsTheSame,
        Code::EmailAlreadyInUse,
        Code::NoFieldsToUpdate,
        Code::SessionNotFound,
        Code::SessionNotFresh,
        Code::MissingOrNullOrigin,
        Code::InvalidOrigin,
        Code::CrossSiteNavigationLoginBlocked,
        Code::InvalidRequest,
        Code::ImportFileInvalid,
        Code::ImportSourceInvalid,
        Code::ImportBadValue,
        Code::TooManyRequests,
        Code::InternalError,
        Code::ServiceUnavailable,
        Code::DatabaseError,
        Code::RedisError,
        Code::SmtpError,
        Code::Config,
        Code::InvalidPermission,
        Code::RoleNotFound,
        Code::OrganizationCreationNotAllowed,
        Code::OrganizationLimitReached,
        Code::OrganizationAlreadyExists,
        Code::OrganizationSlugTaken,
        Code::InvalidSlug,
        Code::OrganizationNotFound,
        Code::NotAMember,
        Code::NoActiveOrganization,
        Code::OrganizationUpdateNotAllowed,
        Code::OrganizationDeleteNotAllowed,
        Code::AlreadyMember,
        Code::MemberNotFound,
        Code::MemberUpdateNotAllowed,
        Code::MemberDeleteNotAllowed,
        Code::MemberCreateNotAllowed,
        Code::LastOwner,
        Code::MembershipLimitReached,
        Code::InviteNotAllowed,
        Code::InviteRoleNotAllowed,
        Code::AlreadyInvited,
        Code::InvitationNotFound,
        Code::NotInvitationRecipient,
        Code::InvitationNeedsVerifiedEmail,
        Code::InvitationCancelNotAllowed,
        Code::InvitationLimitReached,
        Code::TeamNotFound,
        Code::TeamAlreadyExists,
        Code::TeamLimitReached,
        Code::TeamMemberLimitReached,
        Code::NotATeamMember,
        Code::TeamCreateNotAllowed,
        Code::TeamUpdateNotAllowed,
        Code::TeamDeleteNotAllowed,
        Code::RoleCreateNotAllowed,
        Code::RoleUpdateNotAllowed,
        Code::RoleDeleteNotAllowed,
        Code::RoleReadNotAllowed,
        Code::RoleNameTaken,
        Code::PredefinedRole,
        Code::RoleInUse,
        Code::TooManyRoles,
        Code::AdminNotAllowed,
        Code::UserNotFound,
        Code::CannotBanYourself,
        Code::CannotRemoveYourself,
        Code::CannotImpersonateAdmins,
        Code::ImpersonationNested,
        Code::NotImpersonating,
        Code::AgentsDisabled,
        Code::AgentNotFound,
        Code::AgentActionNotAllowed,
        Code::InvalidAgent,
        Code::TooManyAgents,
        Code::AgentRevoked,
        Code::DelegationNotAllowed,
        Code::DelegationTooDeep,
        Code::InvalidResourcePattern,
        Code::InvalidConstraints,
        Code::InvalidAction,
        Code::ApprovalNotFound,
        Code::ApprovalNotPending,
        Code::TwoFactorDisabled,
        Code::TwoFactorRequired,
        Code::TwoFactorNotEnabled,
        Code::TotpNotEnabled,
        Code::TotpAlreadyEnabled,
        Code::OtpNotEnabled,
        Code::OtpNotConfigured,
        Code::OtpHasExpired,
        Code::BackupCodesNotEnabled,
        Code::InvalidCode,
        Code::InvalidBackupCode,
        Code::InvalidTwoFactorCookie,
        Code::TooManyAttemptsRequestNewCode,
        Code::AccountTemporarilyLocked,
        Code::MagicLinkDisabled,
        Code::EmailOtpDisabled,
        Code::InvalidOtp,
        Code::OtpExpired,
        Code::TooManyAttempts,
        Code::ChangeEmailDisabled,
        Code::AnonymousDisabled,
        Code::AnonymousCannotSignInAgain,
        Code::DeleteAnonymousUserDisabled,
        Code::UserIsNotAnonymous,
        Code::AnonymousUserNotAllowed,
        Code::PhoneNumberDisabled,
        Code::SmsNotConfigured,
        Code::InvalidPhoneNumber,
        Code::PhoneNumberExist,
        Code::PhoneNumberNotExist,
        Code::InvalidPhoneNumberOrPassword,
        Code::PhoneNumberNotVerified,
        Code::ApiKeyDisabled,
        Code::KeyNotFound,
        Code::InvalidApiKey,
        Code::KeyDisabled,
        Code::KeyExpired,
        Code::UsageExceeded,
        Code::RateLimited,
        Code::InvalidPrefixLength,
        Code::InvalidNameLength,
        Code::InvalidMetadataType,
        Code::MetadataDisabled,
        Code::ExpiresInIsTooSmall,
        Code::ExpiresInIsTooLarge,
        Code::RefillAmountAndIntervalRequired,
        Code::InvalidRemaining,
        Code::NoValuesToUpdate,
        Code::NameRequired,
        Code::ServerOnlyProperty,
        Code::SignUpDisabled,
        Code::UsernameDisabled,
        Code::UsernameIsAlreadyTaken,
        Code::UsernameTooShort,
        Code::UsernameTooLong,
        Code::SiweDisabled,
        Code::InvalidSiweMessage,
        Code::InvalidOrExpiredNonce,
        Code::SiweMessageMismatch,
        Code::SiweMessageExpired,
        Code::SiweMessageNotYetValid,
        Code::InvalidSiweSignature,
        Code::WalletAlreadyLinked,
        Code::WalletNotFound,
        Code::LastSignInMethod,
        Code::PasskeyDisabled,
        Code::ChallengeNotFound,
        Code::FailedToVerifyRegistration,
        Code::AuthenticationFailed,
        Code::PasskeyNotFound,
        Code::PreviouslyRegistered,
        Code::InvalidPasskeyName,
        Code::OneTapDisabled,
        Code::InvalidIdToken,
        Code::AccountNotLinked,
        Code::FieldNotAllowed,
        Code::InvalidUsername,
        Code::InvalidDisplayUsername,
        Code::InvalidUsernameOrPassword,
    ];

    /// The code on the wire (`{ "code": ... }`), byte for byte better-auth's where it has one.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::ValidationError => "VALIDATION_ERROR",
            Code::InvalidJson => "INVALID_JSON",
            Code::InvalidForm => "INVALID_FORM",
            Code::InvalidEncoding => "INVALID_ENCODING",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::BodyTooLarge => "BODY_TOO_LARGE",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::InvalidEmail => "INVALID_EMAIL",
            Code::InvalidName => "INVALID_NAME",
            Code::InvalidImage => "INVALID_IMAGE",
            Code::PasswordTooShort => "PASSWORD_TOO_SHORT",
            Code::PasswordTooLong => "PASSWORD_TOO_LONG",
            Code::PasswordTooCommon => "PASSWORD_TOO_COMMON",
            Code::PasswordTooPredictable => "PASSWORD_TOO_PREDICTABLE",
            Code::InvalidText => "INVALID_TEXT",
            Code::EmailPasswordDisabled => "EMAIL_PASSWORD_DISABLED",
            Code::UserAlreadyExistsUseAnotherEmail => "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            Code::UserAlreadyExists => "USER_ALREADY_EXISTS",
            Code::InvalidEmailOrPassword => "INVALID_EMAIL_OR_PASSWORD",
            Code::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Code::BannedUser => "BANNED_USER",
            Code::InvalidCallbackUrl => "INVALID_CALLBACK_URL",
            Code::InvalidToken => "INVALID_TOKEN",
            Code::InvalidPassword => "INVALID_PASSWORD",
            Code::CredentialAccountNotFound => "CREDENTIAL_ACCOUNT_NOT_FOUND",
            Code::EmailIsTheSame => "EMAIL_IS_THE_SAME",
            Code::EmailAlreadyInUse => "EMAIL_ALREADY_IN_USE",
            Code::NoFieldsToUpdate => "NO_FIELDS_TO_UPDATE",
            Code::SessionNotFound => "SESSION_NOT_FOUND",
            Code::SessionNotFresh => "SESSION_NOT_FRESH",
            Code::MissingOrNullOrigin => "MISSING_OR_NULL_ORIGIN",
            Code::InvalidOrigin => "INVALID_ORIGIN",
            Code::CrossSiteNavigationLoginBlocked => "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
            Code::InvalidRequest => "INVALID_REQUEST",
            Code::ImportFileInvalid => "IMPORT_FILE_INVALID",
            Code::ImportSourceInvalid => "IMPORT_SOURCE_INVALID",
            Code::ImportBadValue => "IMPORT_BAD_VALUE",
            Code::TooManyRequests => "TOO_MANY_REQUESTS",
            Code::InternalError => "INTERNAL_ERROR",
            Code::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Code::DatabaseError => "DATABASE_ERROR",
            Code::RedisError => "REDIS_ERROR",
            Code::SmtpError => "SMTP_ERROR",
            Code::Config => "CONFIG",
            Code::InvalidPermission => "INVALID_RESOURCE",
            Code::RoleNotFound => "ROLE_NOT_FOUND",
            Code::OrganizationCreationNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION",
            Code::OrganizationLimitReached => "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_ORGANIZATIONS",
            Code::OrganizationAlreadyExists => "ORGANIZATION_ALREADY_EXISTS",
            Code::OrganizationSlugTaken => "ORGANIZATION_SLUG_ALREADY_TAKEN",
            Code::InvalidSlug => "INVALID_SLUG",
            Code::OrganizationNotFound => "ORGANIZATION_NOT_FOUND",
            Code::NotAMember => "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
            Code::NoActiveOrganization => "NO_ACTIVE_ORGANIZATION",
            Code::OrganizationUpdateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
            Code::OrganizationDeleteNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
            Code::AlreadyMember => "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
            Code::MemberNotFound => "MEMBER_NOT_FOUND",
            Code::MemberUpdateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
            Code::MemberDeleteNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
            Code::MemberCreateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_ADD_MEMBERS",
            Code::LastOwner => "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
            Code::MembershipLimitReached => "ORGANIZATION_MEMBERSHIP_LIMIT_REACHED",
            Code::InviteNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            Code::InviteRoleNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE",
            Code::AlreadyInvited => "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
            Code::InvitationNotFound => "INVITATION_NOT_FOUND",
            Code::NotInvitationRecipient => "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
            Code::InvitationNeedsVerifiedEmail => "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
            Code::InvitationCancelNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
            Code::InvitationLimitReached => "INVITATION_LIMIT_REACHED",
            Code::TeamNotFound => "TEAM_NOT_FOUND",
            Code::TeamAlreadyExists => "TEAM_ALREADY_EXISTS",
            Code::TeamLimitReached => "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS",
            Code::TeamMemberLimitReached => "TEAM_MEMBER_LIMIT_REACHED",
            Code::NotATeamMember => "USER_IS_NOT_A_MEMBER_OF_THE_TEAM",
            Code::TeamCreateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION",
            Code::TeamUpdateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM",
            Code::TeamDeleteNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM",
            Code::RoleCreateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE",
            Code::RoleUpdateNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE",
            Code::RoleDeleteNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE",
            Code::RoleReadNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE",
            Code::RoleNameTaken => "ROLE_NAME_IS_ALREADY_TAKEN",
            Code::PredefinedRole => "CANNOT_DELETE_A_PRE_DEFINED_ROLE",
            Code::RoleInUse => "ROLE_IS_ASSIGNED_TO_MEMBERS",
            Code::TooManyRoles => "TOO_MANY_ROLES",
            Code::AdminNotAllowed => "YOU_ARE_NOT_ALLOWED_TO_PERFORM_THIS_ADMIN_ACTION",
            Code::UserNotFound => "USER_NOT_FOUND",
            Code::CannotBanYourself => "YOU_CANNOT_BAN_YOURSELF",
            Code::CannotRemoveYourself => "YOU_CANNOT_REMOVE_YOURSELF",
            Code::CannotImpersonateAdmins => "YOU_CANNOT_IMPERSONATE_ADMINS",
            Code::ImpersonationNested => "YOU_CANNOT_IMPERSONATE_FROM_AN_IMPERSONATION_SESSION",
            Code::NotImpersonating => "YOU_ARE_NOT_IMPERSONATING",
            Code::AgentsDisabled => "AGENTS_DISABLED",
            Code::AgentNotFound => "AGENT_NOT_FOUND",
            Code::AgentActionNotAllowed => "AGENT_ACTION_NOT_ALLOWED",
            Code::InvalidAgent => "INVALID_AGENT",
            Code::TooManyAgents => "TOO_MANY_AGENTS",
            Code::AgentRevoked => "AGENT_ALREADY_REVOKED",
            Code::DelegationNotAllowed => "DELEGATION_NOT_ALLOWED",
            Code::DelegationTooDeep => "DELEGATION_TOO_DEEP",
            Code::InvalidResourcePattern => "INVALID_RESOURCE_PATTERN",
            Code::InvalidConstraints => "INVALID_CONSTRAINTS",
            Code::InvalidAction => "INVALID_ACTION",
            Code::ApprovalNotFound => "APPROVAL_NOT_FOUND",
            Code::ApprovalNotPending => "APPROVAL_NOT_PENDING",
            Code::TwoFactorDisabled => "TWO_FACTOR_DISABLED",
            Code::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            Code::TwoFactorNotEnabled => "TWO_FACTOR_NOT_ENABLED",
            Code::TotpNotEnabled => "TOTP_NOT_ENABLED",
            Code::TotpAlreadyEnabled => "TOTP_ALREADY_ENABLED",
            Code::OtpNotEnabled => "OTP_NOT_ENABLED",
            Code::OtpNotConfigured => "OTP_NOT_CONFIGURED",
            Code::OtpHasExpired => "OTP_HAS_EXPIRED",
            Code::BackupCodesNotEnabled => "BACKUP_CODES_NOT_ENABLED",
            Code::InvalidCode => "INVALID_CODE",
            Code::InvalidBackupCode => "INVALID_BACKUP_CODE",
            Code::InvalidTwoFactorCookie => "INVALID_TWO_FACTOR_COOKIE",
            Code::TooManyAttemptsRequestNewCode => "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
            Code::AccountTemporarilyLocked => "ACCOUNT_TEMPORARILY_LOCKED",
            Code::MagicLinkDisabled => "MAGIC_LINK_DISABLED",
            Code::EmailOtpDisabled => "EMAIL_OTP_DISABLED",
            Code::InvalidOtp => "INVALID_OTP",
            Code::OtpExpired => "OTP_EXPIRED",
            Code::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            Code::ChangeEmailDisabled => "CHANGE_EMAIL_DISABLED",
            Code::AnonymousDisabled => "ANONYMOUS_DISABLED",
            Code::AnonymousCannotSignInAgain => "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY",
            Code::DeleteAnonymousUserDisabled => "DELETE_ANONYMOUS_USER_DISABLED",
            Code::UserIsNotAnonymous => "USER_IS_NOT_ANONYMOUS",
            Code::AnonymousUserNotAllowed => "ANONYMOUS_USER_NOT_ALLOWED",
            Code::PhoneNumberDisabled => "PHONE_NUMBER_DISABLED",
            Code::SmsNotConfigured => "SMS_NOT_CONFIGURED",
            Code::InvalidPhoneNumber => "INVALID_PHONE_NUMBER",
            Code::PhoneNumberExist => "PHONE_NUMBER_EXIST",
            Code::PhoneNumberNotExist => "PHONE_NUMBER_NOT_EXIST",
            Code::InvalidPhoneNumberOrPassword => "INVALID_PHONE_NUMBER_OR_PASSWORD",
            Code::PhoneNumberNotVerified => "PHONE_NUMBER_NOT_VERIFIED",
            Code::ApiKeyDisabled => "API_KEY_DISABLED",
            Code::KeyNotFound => "KEY_NOT_FOUND",
            Code::InvalidApiKey => "INVALID_API_KEY",
            Code::KeyDisabled => "KEY_DISABLED",
            Code::KeyExpired => "KEY_EXPIRED",
            Code::UsageExceeded => "USAGE_EXCEEDED",
            Code::RateLimited => "RATE_LIMITED",
            Code::InvalidPrefixLength => "INVALID_PREFIX_LENGTH",
            Code::InvalidNameLength => "INVALID_NAME_LENGTH",
            Code::InvalidMetadataType => "INVALID_METADATA_TYPE",
            Code::MetadataDisabled => "METADATA_DISABLED",
            Code::ExpiresInIsTooSmall => "EXPIRES_IN_IS_TOO_SMALL",
            Code::ExpiresInIsTooLarge => "EXPIRES_IN_IS_TOO_LARGE",
            Code::RefillAmountAndIntervalRequired => "REFILL_AMOUNT_AND_INTERVAL_REQUIRED",
            Code::InvalidRemaining => "INVALID_REMAINING",
            Code::NoValuesToUpdate => "NO_VALUES_TO_UPDATE",
            Code::NameRequired => "NAME_REQUIRED",
            Code::ServerOnlyProperty => "SERVER_ONLY_PROPERTY",
            Code::SignUpDisabled => "SIGN_UP_DISABLED",
            Code::UsernameDisabled => "USERNAME_DISABLED",
            Code::UsernameIsAlreadyTaken => "USERNAME_IS_ALREADY_TAKEN",
            Code::UsernameTooShort => "USERNAME_TOO_SHORT",
            Code::UsernameTooLong => "USERNAME_TOO_LONG",
            Code::SiweDisabled => "SIWE_DISABLED",
            Code::InvalidSiweMessage => "INVALID_SIWE_MESSAGE",
            Code::InvalidOrExpiredNonce => "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE",
            Code::SiweMessageMismatch => "UNAUTHORIZED_SIWE_MESSAGE_MISMATCH",
            Code::SiweMessageExpired => "UNAUTHORIZED_SIWE_MESSAGE_EXPIRED",
            Code::SiweMessageNotYetValid => "UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID",
            Code::InvalidSiweSignature => "INVALID_SIWE_SIGNATURE",
            Code::WalletAlreadyLinked => "WALLET_ALREADY_LINKED",
            Code::WalletNotFound => "WALLET_NOT_FOUND",
            Code::LastSignInMethod => "LAST_SIGN_IN_METHOD",
            Code::PasskeyDisabled => "PASSKEY_DISABLED",
            Code::ChallengeNotFound => "CHALLENGE_NOT_FOUND",
            Code::FailedToVerifyRegistration => "FAILED_TO_VERIFY_REGISTRATION",
            Code::AuthenticationFailed => "AUTHENTICATION_FAILED",
            Code::PasskeyNotFound => "PASSKEY_NOT_FOUND",
            Code::PreviouslyRegistered => "PREVIOUSLY_REGISTERED",
            Code::InvalidPasskeyName => "INVALID_PASSKEY_NAME",
            Code::OneTapDisabled => "ONE_TAP_DISABLED",
            Code::InvalidIdToken => "INVALID_ID_TOKEN",
            Code::AccountNotLinked => "ACCOUNT_NOT_LINKED",
            Code::FieldNotAllowed => "FIELD_NOT_ALLOWED",
            Code::InvalidUsername => "INVALID_USERNAME",
            Code::InvalidDisplayUsername => "INVALID_DISPLAY_USERNAME",
            Code::InvalidUsernameOrPassword => "INVALID_USERNAME_OR_PASSWORD",
        }
    }

    /// The code of a string, if Kavach emits it.
    pub fn parse(code: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for Cow<'static, str> {
    fn from(c: Code) -> Self {
        Cow::Borrowed(c.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<Code> for Cow<'static, str> {
    fn eq(&self, c: &Code) -> bool {
        self.as_ref() == c.as_str()
    }
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Error { kind, code: code.into(), message: message.into(), source: None }
    }
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::BadRequest, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(Kind::Unauthorized, Code::Unauthorized, "Sign in first")
    }
    pub fn forbidden(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Forbidden, code, message)
    }
    pub fn not_found(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::NotFound, code, message)
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(Kind::TooManyRequests { retry_after_secs }, Code::TooManyRequests, "Too many requests. Please try again later.")
    }
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Config, Code::Config, message)
    }
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Internal, Code::InternalError, message)
    }
    pub fn invalid_credentials() -> Self {
        Self::new(Kind::Unauthorized, Code::InvalidEmailOrPassword, "Invalid email or password")
    }
    pub fn invalid_token() -> Self {
        Self::bad_request(Code::InvalidToken, "The token is invalid or has expired")
    }
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }
    /// Does this error carry `code` (one of [`Code`], an [`crate::plugins::oauth::OAuthErrorCode`]
    /// of the client registry, or an embedder's string)?
    pub fn is(&self, code: impl Into<Cow<'static, str>>) -> bool {
        self.code == code.into()
    }
    /// Is this the caller's fault (4xx)?
    pub fn is_client_error(&self) -> bool {
        !matches!(self.kind, Kind::Internal | Kind::Unavailable | Kind::Config)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(s) = &self.source {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // The last line of defence for text PostgreSQL cannot store (a NUL character:
        // SQLSTATE 22021); the HTTP layer refuses it before it gets here.
        if let sqlx::Error::Database(d) = &e
            && d.code().as_deref() == Some("22021")
        {
            return Error::bad_request(Code::InvalidText, "Text must not contain NUL characters").with_source(e);
        }
        let kind = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => Kind::Unavailable,
            _ => Kind::Internal,
        };
        Error::new(kind, Code::DatabaseError, "database error").with_source(e)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::new(Kind::Unavailable, Code::RedisError, "rate-limit store unavailable").with_source(e)
    }
}

/// For the catalogue tests: the names in backticks in the first column of the tables of a
/// docs page (under the `## heading` section when one is given), which each catalogue
/// (audit kinds, API and OAuth error codes) must equal.
#[cfg(test)]
pub(crate) fn doc_table_names(doc: &str, heading: Option<&str>) -> std::collections::BTreeSet<String> {
    let section = match heading {
        Some(h) => doc.split(&format!("\n## {h}")).nth(1).unwrap_or_default().split("\n## ").next().unwrap_or_default(),
        None => doc,
    };
    let mut out = std::collections::BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for name in first.split('`').skip(1).step_by(2) {
            out.insert(name.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod catalogue_tests {
    use super::Code;
    use crate::plugins::oauth::OAuthErrorCode;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// The codes in the first column of the table under docs/api.md's "## Error codes".
    fn documented() -> BTreeSet<String> {
        crate::error::doc_table_names(include_str!("../../../docs/api.md"), Some("Error codes"))
    }

    #[test]
    fn every_error_code_is_documented_and_every_documented_code_exists() {
        let code: BTreeSet<String> = Code::ALL.iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(code.len(), Code::ALL.len(), "two codes share a string");
        assert_eq!(code, documented(), "docs/api.md's error codes and Code disagree");
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
            assert_eq!(c.to_string(), c.as_str());
        }
    }

    #[test]
    fn an_error_made_from_a_code_carries_its_string() {
        let e = super::Error::new(super::Kind::Unauthorized, Code::InvalidEmailOrPassword, "no");
        assert_eq!(e.code, "INVALID_EMAIL_OR_PASSWORD");
        assert!(e.is(Code::InvalidEmailOrPassword) && !e.is(Code::BannedUser));
        assert!(e.code == Code::InvalidEmailOrPassword);
        // An embedder's own code is any string.
        assert!(super::Error::new(super::Kind::NotFound, "PROJECT_NOT_FOUND", "no").is("PROJECT_NOT_FOUND"));
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }

    /// The non-test part of every source file of kavach-core and kavach, but the catalogues.
    fn sources() -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        rust_files(&root.join("kavach-core/src"), &mut files);
        rust_files(&root.join("kavach/src"), &mut files);
        assert!(files.len() > 50, "sources not found under {}", root.display());
        files
            .into_iter()
            .filter(|p| !p.ends_with("kavach-core/src/error.rs") && !p.ends_with("plugins/oauth/error.rs"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
                (p, code)
            })
            .collect()
    }

    /// The arguments of the call whose `(` ends `text[..start]`, split at top-level commas.
    fn arguments(text: &str, start: usize) -> Vec<String> {
        let (mut depth, mut args, mut cur, mut in_str, mut prev) = (0usize, Vec::new(), String::new(), false, ' ');
        for ch in text.get(start..).unwrap_or_default().chars() {
            match ch {
                '"' if prev != '\\' => in_str = !in_str,
                '(' | '[' | '{' if !in_str => depth += 1,
                ')' | ']' | '}' if !in_str && depth == 0 => break,
                ')' | ']' | '}' if !in_str => depth -= 1,
                ',' if !in_str && depth == 0 => {
                    args.push(std::mem::take(&mut cur));
                    prev = ch;
                    continue;
                }
                _ => {}
            }
            cur.push(ch);
            prev = ch;
        }
        args.push(cur);
        args
    }

    /// Kavach's codes come from the catalogues: no error constructor is given a string
    /// literal as its code, and no string literal spells a catalogued code (OpenAPI
    /// `description = "..."` texts aside).
    #[test]
    fn no_error_code_is_written_as_a_string_outside_the_catalogues() {
        let mut found = Vec::new();
        for (path, text) in sources() {
            for (name, code_arg) in [("Error::new(", 1), ("client_error(", 1), ("bad_request(", 0), ("forbidden(", 0), ("not_found(", 0)] {
                for (i, _) in text.match_indices(name) {
                    if name == "Error::new(" && text.get(..i).unwrap_or_default().ends_with("OAuth") {
                        continue; // typed: OAuthError::new(OAuthErrorCode, ..)
                    }
                    let args = arguments(&text, i + name.len());
                    if args.get(code_arg).is_some_and(|a| a.trim_start().starts_with('"')) {
                        found.push(format!("{}: {name}{}", path.display(), args.join(",")));
                    }
                }
            }
            let codes = Code::ALL.iter().map(|c| c.as_str()).chain(OAuthErrorCode::ALL.iter().map(|c| c.as_str()));
            for c in codes {
                let quoted = format!("\"{c}\"");
                for (i, _) in text.match_indices(&quoted) {
                    if !text.get(..i).unwrap_or_default().trim_end().ends_with("description =") {
                        found.push(format!("{}: {quoted}", path.display()));
                    }
                }
            }
        }
        assert!(found.is_empty(), "codes written as strings instead of Code / OAuthErrorCode:\n{}", found.join("\n"));
    }
}
