//! Message catalogue: each key with its Chinese and English text.
//!
//! Placeholders are written `{name}` and filled by [`super::fill`]; both
//! languages of a key must use the same placeholders (a test checks).

use super::Locale;

macro_rules! catalog {
    ($( $key:ident { zh: $zh:literal, en: $en:literal } )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Msg { $($key),* }

        impl Msg {
            /// Every key, in catalogue order (for checks over the whole
            /// catalogue).
            pub const ALL: &'static [Msg] = &[$(Msg::$key),*];

            pub fn text(self, locale: Locale) -> &'static str {
                match locale {
                    Locale::ZhCn => match self { $(Msg::$key => $zh),* },
                    Locale::En => match self { $(Msg::$key => $en),* },
                }
            }
        }
    };
}

catalog! {
    AppTitle { zh: "计量协作网", en: "Jiliang — Metrology Collaboration Network" }
    AppName { zh: "计量协作网", en: "Jiliang" }
    AppSubtitle { zh: "远程计量协作网络", en: "Remote metrology collaboration" }
    SwitchLanguage { zh: "切换语言", en: "Switch language" }
    MainNavigation { zh: "主导航", en: "Main navigation" }
    NavHome { zh: "首页", en: "Home" }
    NavStatus { zh: "系统状态", en: "System status" }

    HomeHeadline { zh: "把省级专家带到每一个县级实验室", en: "Bringing provincial experts to every county lab" }
    HomeLead {
        zh: "远程培训、实时比对、防篡改的计量数据、可溯源至 UTC 的时间和远程技术支持，面向基层、偏远和欠发达地区。",
        en: "Remote training, live comparisons, tamper-evident metrology data, UTC-traceable time and remote technical support for grassroots, remote and under-served areas."
    }
    HomeForTechnicians { zh: "基层技术人员", en: "County technicians" }
    HomeForTechniciansText {
        zh: "在弱网络下加入远程会话，实时上传被检仪器读数，按专家指导完成检定。",
        en: "Join live sessions over weak links, stream readings of the instrument under test, follow an expert's guidance."
    }
    HomeForExperts { zh: "省级专家", en: "Provincial experts" }
    HomeForExpertsText {
        zh: "与参考标准实时比对：示值误差、不确定度、En 值与最大允许误差判定，组织多实验室比对。",
        en: "Compare live against the reference standard: errors, uncertainty, En scores and MPE verdicts; run multi-lab comparisons."
    }
    HomeForTrainees { zh: "学员", en: "Trainees" }
    HomeForTraineesText {
        zh: "参加课程、测验和直播课堂，获得可验证的证书。",
        en: "Take courses, quizzes and live classes; earn verifiable certificates."
    }

    ServerStatus { zh: "服务器状态", en: "Server status" }
    ServerChecking { zh: "正在检查…", en: "Checking…" }
    ServerOnline { zh: "在线", en: "Online" }
    ServerOffline { zh: "无法连接服务器", en: "Cannot reach the server" }
    ServerVersion { zh: "版本 {version}", en: "Version {version}" }
    Retry { zh: "重试", en: "Retry" }
    ErrNetwork { zh: "无法连接服务器，请检查网络后重试。", en: "Cannot reach the server. Check the network and try again." }
    ErrBadAnswer { zh: "服务器的答复无法识别，请刷新页面后重试。", en: "The server's answer could not be read. Reload the page and try again." }
    ErrHttp { zh: "服务器暂时无法处理请求（HTTP {status}）。", en: "The server could not handle the request (HTTP {status})." }
    ErrSaveFile { zh: "文件无法保存：浏览器拒绝了下载。", en: "The file could not be saved: the browser refused the download." }

    StatusTitle { zh: "系统状态", en: "System status" }
    StatusIntro {
        zh: "本节点的存活与就绪检查。若某项未就绪，请联系系统管理员。",
        en: "Liveness and readiness checks of this node. If a check is not ready, contact your administrator."
    }
    StatusLiveness { zh: "存活", en: "Liveness" }
    StatusReadiness { zh: "就绪", en: "Readiness" }
    StatusReady { zh: "就绪", en: "Ready" }
    StatusNotReady { zh: "未就绪", en: "Not ready" }
    StatusCheck { zh: "检查项", en: "Check" }
    StatusDetail { zh: "说明", en: "Detail" }
    StatusLatency { zh: "耗时", en: "Latency" }
    StatusStorage { zh: "存储", en: "Storage" }
    CheckDatabase { zh: "数据库", en: "Database" }
    CheckClock { zh: "时钟", en: "Clock" }
    CheckOk { zh: "正常", en: "OK" }
    CheckFailed { zh: "异常", en: "Failed" }

    NotFoundTitle { zh: "页面不存在", en: "Page not found" }
    NotFoundText { zh: "您访问的地址不存在或已被移动。", en: "The address you opened does not exist or has moved." }
    BackHome { zh: "返回首页", en: "Back to home" }
    Footer { zh: "计量协作网 · 数据可溯源 · 时间可溯源至 UTC", en: "Jiliang · traceable data · time traceable to UTC" }

    SkipToContent { zh: "跳到主要内容", en: "Skip to main content" }
    NavInstitutions { zh: "机构", en: "Institutions" }
    NavPeople { zh: "人员", en: "People" }
    NavAudit { zh: "审计日志", en: "Audit log" }
    NavAccount { zh: "我的账户", en: "My account" }
    NavMenuOpen { zh: "打开菜单，当前：", en: "Open the menu; you are on: " }
    NavMenuClose { zh: "关闭菜单，当前：", en: "Close the menu; you are on: " }
    NavPageOther { zh: "其他页面", en: "Other page" }
    OfflineBanner { zh: "离线：显示的是上次联网时的内容，网络恢复后自动更新。", en: "Offline: showing what was last loaded; it updates when the network is back." }
    UpdateReady { zh: "新版本已就绪", en: "A new version is ready" }
    UpdateReload { zh: "重新加载", en: "Reload" }

    // Shared words
    Loading { zh: "正在加载…", en: "Loading…" }
    Working { zh: "正在提交…", en: "Working…" }
    LoadFailed { zh: "加载失败：", en: "Could not load:" }
    LoadMore { zh: "加载更多", en: "Load more" }
    Save { zh: "保存", en: "Save" }
    Cancel { zh: "取消", en: "Cancel" }
    Close { zh: "关闭", en: "Close" }
    Create { zh: "创建", en: "Create" }
    Edit { zh: "编辑", en: "Edit" }
    Move { zh: "移动", en: "Move" }
    Manage { zh: "管理", en: "Manage" }
    Deactivate { zh: "停用", en: "Deactivate" }
    Reactivate { zh: "重新启用", en: "Reactivate" }
    ConfirmDeactivate { zh: "确认停用", en: "Yes, deactivate" }
    ConfirmReactivate { zh: "确认启用", en: "Yes, reactivate" }
    Active { zh: "在用", en: "Active" }
    Inactive { zh: "已停用", en: "Deactivated" }
    Status { zh: "状态", en: "Status" }
    People { zh: "人员", en: "People" }
    PeopleCount { zh: "{n} 人", en: "{n} people" }
    ChooseOne { zh: "请选择…", en: "Choose…" }
    Search { zh: "搜索", en: "Search" }
    Breadcrumb { zh: "位置", en: "Breadcrumb" }

    RoleAdmin { zh: "管理员", en: "Administrator" }
    RoleExpert { zh: "专家", en: "Expert" }
    RoleTechnician { zh: "技术人员", en: "Technician" }
    RoleTrainee { zh: "学员", en: "Trainee" }
    LevelNational { zh: "国家级", en: "National" }
    LevelRegional { zh: "大区", en: "Regional" }
    LevelProvincial { zh: "省级", en: "Provincial" }
    LevelCity { zh: "市级", en: "City" }
    LevelCounty { zh: "县级", en: "County" }

    // Fields
    FieldLogin { zh: "用户名、电子邮箱或手机号", en: "Username, e-mail or phone number" }
    FieldPassword { zh: "密码", en: "Password" }
    FieldUsername { zh: "用户名", en: "Username" }
    FieldDisplayName { zh: "姓名", en: "Name" }
    FieldEmail { zh: "电子邮箱", en: "E-mail" }
    FieldPhone { zh: "电话", en: "Phone" }
    FieldInstitution { zh: "机构", en: "Institution" }
    FieldRole { zh: "角色", en: "Role" }
    FieldRoles { zh: "角色", en: "Roles" }
    FieldLevel { zh: "级别", en: "Level" }
    FieldNameZh { zh: "中文名称", en: "Chinese name" }
    FieldNameEn { zh: "英文名称", en: "English name" }
    FieldRegionCode { zh: "行政区划代码", en: "Region code" }
    FieldContact { zh: "联系方式", en: "Contact" }
    FieldNewParent { zh: "新的上级机构", en: "New parent institution" }
    FieldCurrentPassword { zh: "当前密码", en: "Current password" }
    FieldNewPassword { zh: "新密码", en: "New password" }
    FieldConfirmPassword { zh: "再次输入新密码", en: "Repeat the new password" }
    FieldInitialPassword { zh: "初始密码", en: "Initial password" }
    FieldEvent { zh: "事件类型", en: "Event" }
    FieldSince { zh: "起始日期", en: "From" }
    FieldUntil { zh: "截止日期", en: "To" }
    RegionCodeHint { zh: "6 位数字，按 GB/T 2260，例如 620522。", en: "Six digits per GB/T 2260, e.g. 620522." }
    RegionCodeShort { zh: "区划 {code}", en: "Region {code}" }
    UsernameRules {
        zh: "3–32 个字符：小写字母、数字和 . _ -，以字母开头。",
        en: "3–32 characters: lower-case letters, digits and . _ -, starting with a letter."
    }
    PasswordRules {
        zh: "至少 10 个字符，包含小写字母、大写字母、数字、符号中的至少三类；不能包含用户名，不能是常见密码。",
        en: "At least 10 characters with three of: lower-case, upper-case, digits, symbols; must not contain the username or be a common password."
    }
    PasswordsDiffer { zh: "两次输入的新密码不一致。", en: "The two new password entries differ." }
    ChooseInstitution { zh: "请选择机构。", en: "Choose an institution." }

    // Login and session
    Login { zh: "登录", en: "Log in" }
    Logout { zh: "退出", en: "Log out" }
    LoginTitle { zh: "登录计量协作网", en: "Log in to Jiliang" }
    SessionEnded { zh: "您的会话已结束，请重新登录。", en: "Your session has ended; please log in again." }
    LoggedOut { zh: "您已退出登录。", en: "You have logged out." }
    ForgotPassword {
        zh: "忘记密码？请联系您所在机构的管理员，为您签发密码重置链接。",
        en: "Forgot your password? Ask your institution's administrator for a password-reset link."
    }
    GoToLogin { zh: "前往登录", en: "Go to login" }

    // States
    ForbiddenTitle { zh: "无权访问", en: "No access" }
    ForbiddenText {
        zh: "此页面不在您的权限范围内。如需访问，请联系您所在机构的管理员。",
        en: "This page is outside what your account may see. Ask your institution's administrator if you need access."
    }
    MissingTitle { zh: "未找到", en: "Not found" }

    // Dashboard
    Hello { zh: "您好，{name}", en: "Hello, {name}" }
    DashAdminTitle { zh: "管理", en: "Administration" }
    QuickInstitutions { zh: "个机构", en: "institutions" }
    QuickPeople { zh: "名人员", en: "people" }
    QuickPendingInvitations { zh: "{n} 个邀请待接受", en: "{n} invitations pending" }
    QuickAudit { zh: "条审计事件（近 24 小时）", en: "audit events (last 24 h)" }
    DashLabsTitle { zh: "我的下级实验室", en: "My labs" }
    DashLabsIntro { zh: "您所在机构下属的机构和实验室。点击名称查看详情和人员。", en: "Institutions and labs below yours. Open one to see its details and people." }
    UnderParent { zh: "隶属 {name}", en: "under {name}" }
    DashMyLab { zh: "我的实验室", en: "My lab" }
    AboveYours { zh: "上级：", en: "Above yours:" }
    DashChainTitle { zh: "上级机构", en: "Supervising institutions" }
    DashChainIntro { zh: "遇到问题时可以联系的上级机构，由近及远。", en: "Whom to call when you need help, nearest first." }
    DashColleagues { zh: "我的同事", en: "My colleagues" }
    NoColleagues { zh: "您的实验室暂无其他成员。", en: "No one else works in your lab yet." }
    DashLearning { zh: "我的学习", en: "My learning" }
    DashUpcoming { zh: "即将开始的会话", en: "Upcoming sessions" }
    AllSessions { zh: "全部会话", en: "All sessions" }
    NoCoursesYet { zh: "尚未为您分配课程。分配后会显示在这里。", en: "No courses assigned yet. They will appear here once assigned." }
    DashProfile { zh: "我的资料", en: "My profile" }
    EditProfile { zh: "修改资料", en: "Edit profile" }

    // Institutions
    InstitutionsTitle { zh: "机构", en: "Institutions" }
    InstitutionsIntro { zh: "您可以查看的计量机构。点击名称查看详情。", en: "The metrology institutions you can see. Open one for details." }
    InstitutionsIntroAdmin {
        zh: "您可以查看的计量机构。在您管理的机构上点击“管理”可添加下级、编辑、移动或停用。",
        en: "The metrology institutions you can see. Use “Manage” on one you administer to add a child, edit, move or deactivate it."
    }
    NoInstitutions { zh: "暂无可显示的机构。若这不符合预期，请联系管理员检查您账户所属的机构。", en: "No institutions to show. If that is unexpected, ask an administrator to check which institution your account belongs to." }
    ExpandAll { zh: "全部展开", en: "Expand all" }
    CollapseAll { zh: "全部折叠", en: "Collapse all" }
    ExpandNamed { zh: "展开 {name}", en: "Expand {name}" }
    CollapseNamed { zh: "折叠 {name}", en: "Collapse {name}" }
    AddChild { zh: "添加下级", en: "Add child" }
    AddChildTo { zh: "在“{name}”下添加机构", en: "Add an institution under “{name}”" }
    EditInstitution { zh: "编辑机构信息", en: "Edit institution" }
    MoveInstitution { zh: "移动“{name}”", en: "Move “{name}”" }
    MoveHint {
        zh: "只能移到您管理的、级别更高的机构之下，且不能移到它自己的下级。",
        en: "Only under an institution you administer, of a higher level, and not inside its own subtree."
    }
    ConfirmDeactivateInstitution {
        zh: "确定停用“{name}”吗？停用后不能在其下添加机构或人员；可随时重新启用。",
        en: "Deactivate “{name}”? No institutions or people can be added under it until it is reactivated."
    }
    ConfirmReactivateInstitution { zh: "确定重新启用“{name}”吗？", en: "Reactivate “{name}”?" }
    ChildInstitutions { zh: "下级机构", en: "Institutions below" }
    NoPeopleHere { zh: "该机构暂无人员。可在“人员”页面邀请。", en: "No one works here yet. Invite people from the People page." }
    NoPeopleHereAsk { zh: "该机构暂无人员。如需添加，请联系上级机构的管理员。", en: "No one works here yet. To add people, ask an administrator of the institution above." }

    // People
    PeopleTitle { zh: "人员", en: "People" }
    PeopleIntro { zh: "您所在实验室的人员。", en: "The people of your lab." }
    PeopleIntroExpert { zh: "您所在机构及下级机构的人员。您可以邀请技术人员和学员。", en: "People of your institution and those below it. You can invite technicians and trainees." }
    PeopleIntroAdmin { zh: "您所管理机构的人员：创建账户、邀请、修改角色、停用和重置密码。", en: "People of the institutions you administer: create accounts, invite, change roles, deactivate, reset passwords." }
    SearchPeople { zh: "搜索人员", en: "Search people" }
    SearchPlaceholder { zh: "姓名、用户名、邮箱或电话", en: "Name, username, e-mail or phone" }
    AllInstitutions { zh: "全部机构", en: "All institutions" }
    AllRoles { zh: "全部角色", en: "All roles" }
    AllStatuses { zh: "全部状态", en: "Any status" }
    ActiveOnly { zh: "在用", en: "Active" }
    InactiveOnly { zh: "已停用", en: "Deactivated" }
    NoPeopleFound { zh: "没有找到符合条件的人员。", en: "No people match." }
    NoPeopleFoundHint { zh: "请修改搜索词或筛选条件。", en: "Change the search text or the filters." }
    NoPeopleFoundInvite { zh: "请修改搜索词或筛选条件，或邀请新成员加入。", en: "Change the search text or the filters, or invite someone." }
    EditPerson { zh: "修改人员信息和角色", en: "Edit details and roles" }
    ConfirmDeactivatePerson {
        zh: "确定停用“{name}”的账户吗？其所有会话将立即结束，且无法再登录，直到重新启用。",
        en: "Deactivate {name}'s account? All their sessions end now and they cannot log in until reactivated."
    }
    ConfirmReactivatePerson { zh: "确定重新启用“{name}”的账户吗？", en: "Reactivate {name}'s account?" }
    IssueReset { zh: "签发重置链接", en: "Issue reset link" }
    ConfirmReset {
        zh: "为“{name}”签发密码重置链接？其当前密码立即失效，所有会话立即结束，直到其通过链接设置新密码。",
        en: "Issue a password-reset link for {name}? Their current password stops working and all their sessions end now, until they set a new one through the link."
    }
    ResetLinkInstructions {
        zh: "请把此链接发送给{name}（服务器不会发送邮件或短信）。链接只显示这一次，只能使用一次。",
        en: "Send this link to {name} yourself (the server sends no e-mail or SMS). It is shown only now and works once."
    }
    CreateAccount { zh: "新建账户", en: "Create account" }
    CreateAccountIntro {
        zh: "直接创建账户并设置初始密码，再把密码当面或通过可靠渠道告知本人。更推荐使用“邀请”，由本人自行设置密码。",
        en: "Create an account with an initial password and hand it over in person or another safe way. Inviting is better: people choose their own password."
    }
    AccountCreated { zh: "已创建账户：{name}", en: "Account created: {name}" }
    InvitePerson { zh: "邀请人员", en: "Invite someone" }
    InviteIntro {
        zh: "填写被邀请人的信息，系统会生成一次性邀请链接。服务器不会发送邮件或短信，请您自行把链接发送给对方。",
        en: "Fill in who you invite; you get a one-time link. The server sends no e-mail or SMS: send the link to the person yourself."
    }
    InviteContactHint { zh: "电子邮箱和电话至少填写一项。", en: "Give an e-mail address or a phone number (or both)." }
    CreateInvitation { zh: "生成邀请链接", en: "Create invitation link" }
    InvitationCreated { zh: "邀请已创建", en: "Invitation created" }
    InviteLinkInstructions {
        zh: "请把此链接发送给{name}（服务器不会发送邮件或短信）。链接只显示这一次，对方用它设置用户名和密码。",
        en: "Send this link to {name} yourself (the server sends no e-mail or SMS). It is shown only now; with it they choose a username and password."
    }
    InviteAnother { zh: "再邀请一位", en: "Invite another" }
    OneTimeLink { zh: "一次性链接", en: "One-time link" }
    CopyLink { zh: "复制链接", en: "Copy link" }
    Copied { zh: "已复制到剪贴板。", en: "Copied to the clipboard." }
    CopyManually { zh: "无法自动复制，链接已选中，请手动复制。", en: "Could not copy automatically; the link is selected — copy it by hand." }
    LinkExpires { zh: "有效期至 {time}", en: "Valid until {time}" }
    InvitationsTitle { zh: "邀请记录", en: "Invitations" }
    NoInvitations { zh: "暂无邀请。点击“邀请人员”邀请新成员。", en: "No invitations yet. Use “Invite someone” to add people." }
    InvitationPending { zh: "待接受", en: "Pending" }
    InvitationAccepted { zh: "已接受", en: "Accepted" }
    InvitationExpired { zh: "已过期", en: "Expired" }
    InvitationRevoked { zh: "已撤回", en: "Revoked" }
    RevokeInvitation { zh: "撤回邀请", en: "Revoke" }
    InvitedByAt { zh: "{name} 邀请于 {time}", en: "Invited by {name} on {time}" }

    // Audit
    AuditTitle { zh: "审计日志", en: "Audit log" }
    AuditIntro {
        zh: "您所管理机构的安全事件：登录、密码、角色、账户和机构的变更，最新的在前。时间为本机时间。",
        en: "Security events of the institutions you administer — logins, passwords, roles, accounts and institutions — newest first, in your local time."
    }
    AllEvents { zh: "全部事件", en: "All events" }
    ApplyFilters { zh: "筛选", en: "Apply" }
    ClearFilters { zh: "清除筛选", en: "Clear" }
    NoAuditEvents { zh: "没有符合条件的事件。请放宽日期范围或事件类型。", en: "No events match. Widen the date range or choose another event type." }
    ColTime { zh: "时间", en: "Time" }
    ColEvent { zh: "事件", en: "Event" }
    ColActor { zh: "操作人", en: "Actor" }
    ColTarget { zh: "对象", en: "Target" }
    ColIp { zh: "IP 地址", en: "IP address" }
    ColDetail { zh: "详情", en: "Detail" }
    EvLoginSucceeded { zh: "登录成功", en: "Login succeeded" }
    EvLoginFailed { zh: "登录失败", en: "Login failed" }
    EvLockout { zh: "账户锁定", en: "Locked out" }
    EvLogout { zh: "退出登录", en: "Logout" }
    EvPasswordChanged { zh: "修改密码", en: "Password changed" }
    EvPasswordResetIssued { zh: "签发重置链接", en: "Reset link issued" }
    EvPasswordReset { zh: "重置密码", en: "Password reset" }
    EvRoleChanged { zh: "角色变更", en: "Roles changed" }
    EvUserCreated { zh: "创建账户", en: "Account created" }
    EvUserUpdated { zh: "修改资料", en: "Details changed" }
    EvUserMoved { zh: "调动机构", en: "Moved to another institution" }
    EvUserDeactivated { zh: "停用账户", en: "Account deactivated" }
    EvUserReactivated { zh: "启用账户", en: "Account reactivated" }
    EvInvitationCreated { zh: "发出邀请", en: "Invitation created" }
    EvInvitationAccepted { zh: "接受邀请", en: "Invitation accepted" }
    EvInstitutionCreated { zh: "新建机构", en: "Institution created" }
    EvInstitutionRenamed { zh: "机构更名", en: "Institution renamed" }
    EvInstitutionMoved { zh: "机构移动", en: "Institution moved" }
    EvInstitutionDeactivated { zh: "停用机构", en: "Institution deactivated" }
    EvInstitutionReactivated { zh: "启用机构", en: "Institution reactivated" }

    // Invitation and reset links
    InviteTitle { zh: "接受邀请", en: "Accept your invitation" }
    InviteWelcome { zh: "您受邀加入计量协作网：", en: "You are invited to join Jiliang as:" }
    LinkValidUntil { zh: "链接有效期至", en: "Link valid until" }
    ChooseCredentials { zh: "设置用户名和密码", en: "Choose a username and password" }
    AcceptInvitation { zh: "创建账户并登录", en: "Create account and log in" }
    LinkExpiredTitle { zh: "链接已失效", en: "This link no longer works" }
    LinkExpiredHelp { zh: "请联系发给您链接的人，请其重新发送。", en: "Ask the person who sent it to send you a new one." }
    LinkInvalidTitle { zh: "链接无效", en: "This link cannot be used" }
    LinkInvalidHelp {
        zh: "链接可能已被使用，或复制时不完整。若您已设置过账户，请直接登录。",
        en: "It may have been used already, or copied incompletely. If you already set up your account, log in."
    }
    NotAnInvitation { zh: "这是密码重置链接，不是邀请链接。", en: "This is a password-reset link, not an invitation." }
    NotAResetLink { zh: "这是邀请链接，不是密码重置链接。", en: "This is an invitation link, not a password-reset link." }
    ResetTitle { zh: "设置新密码", en: "Choose a new password" }
    ResetFor { zh: "账户：{name}", en: "Account: {name}" }
    SetPassword { zh: "设置密码", en: "Set password" }
    PasswordSetTitle { zh: "密码已设置", en: "Password set" }
    PasswordSetText { zh: "请使用新密码登录。", en: "Log in with your new password." }

    // Account
    AccountTitle { zh: "我的账户", en: "My account" }
    ProfileTitle { zh: "个人资料", en: "Profile" }
    ProfileSaved { zh: "资料已保存。", en: "Profile saved." }
    NothingChanged { zh: "没有需要保存的修改。", en: "Nothing to save." }
    ChangePassword { zh: "修改密码", en: "Change password" }
    PasswordChanged { zh: "密码已修改。您在其他设备上的登录已全部退出。", en: "Password changed. You have been logged out on all other devices." }

    // Status: readiness check names
    CheckBus { zh: "消息总线", en: "Message bus" }

    // Live sessions
    NavSessions { zh: "会话", en: "Sessions" }
    NavHelp { zh: "求助", en: "Help" }
    SessionsTitle { zh: "远程会话", en: "Live sessions" }
    SessionsIntro {
        zh: "您参加的远程会话。会话进行中时点击“进入”加入；需要专家协助时，可在“求助”页面发起求助。",
        en: "The live sessions you take part in. Use “Enter” to join one that is live; if you need an expert, ask on the Help page."
    }
    SessionsIntroHost {
        zh: "您参加的会话和下级实验室的会话。可以安排新会话，时间按本机时区显示。",
        en: "Your sessions and those of the labs below you. Schedule new ones here; times are in your local time zone."
    }
    SessionsViews { zh: "会话视图", en: "Session views" }
    TabUpcoming { zh: "即将开始", en: "Upcoming" }
    TabLive { zh: "进行中", en: "Live" }
    TabEnded { zh: "已结束", en: "Ended" }
    TabCalendar { zh: "日历", en: "Calendar" }
    LiveNow { zh: "正在进行", en: "Live now" }
    StateScheduled { zh: "未开始", en: "Scheduled" }
    StateLive { zh: "进行中", en: "Live" }
    StateEnded { zh: "已结束", en: "Ended" }
    KindHelp { zh: "求助", en: "Help request" }
    HostedBy { zh: "主持：{name}", en: "Host: {name}" }
    ScheduledFor { zh: "计划 {time} 开始 · {duration}", en: "Scheduled for {time} · {duration}" }
    DurationMinutes { zh: "{m} 分钟", en: "{m} min" }
    DurationHoursMinutes { zh: "{h} 小时 {m} 分", en: "{h} h {m} min" }
    Enter { zh: "进入", en: "Enter" }
    Open { zh: "查看", en: "Open" }
    ViewRecord { zh: "查看记录", en: "View record" }
    NoUpcomingSessions {
        zh: "暂无即将开始的会话。专家安排会话后会显示在这里；如需帮助，请发起求助。",
        en: "No upcoming sessions. Sessions an expert schedules with your lab appear here; if you need help now, send a help request."
    }
    NoUpcomingSessionsHost {
        zh: "暂无即将开始的会话。点击“安排会话”与下级实验室约定时间。",
        en: "No upcoming sessions. Use “Schedule a session” to set one up with a lab below you."
    }
    NoLiveSessions {
        zh: "目前没有进行中的会话。需要专家协助时，请发起求助。",
        en: "No session is live right now. If you need an expert, send a help request."
    }
    NoLiveSessionsHost {
        zh: "目前没有进行中的会话。可在“即将开始”中开始已安排的会话，或在“求助”页面接受求助。",
        en: "No session is live right now. Start a scheduled one from “Upcoming”, or accept a help request on the Help page."
    }
    NoEndedSessions { zh: "还没有已结束的会话。会话结束后，其完整记录保存在这里，可随时查看。", en: "No ended sessions yet. Once a session ends, its full record is kept here." }
    GoToHelp { zh: "前往求助", en: "Go to Help" }
    PrevWeek { zh: "上一周", en: "Previous week" }
    ThisWeek { zh: "本周", en: "This week" }
    NextWeek { zh: "下一周", en: "Next week" }
    Today { zh: "今天", en: "Today" }
    Mon { zh: "周一", en: "Mon" }
    Tue { zh: "周二", en: "Tue" }
    Wed { zh: "周三", en: "Wed" }
    Thu { zh: "周四", en: "Thu" }
    Fri { zh: "周五", en: "Fri" }
    Sat { zh: "周六", en: "Sat" }
    Sun { zh: "周日", en: "Sun" }
    NoSessionsThisDay { zh: "无会话", en: "No sessions" }
    NoSessionsThisWeek { zh: "本周没有会话。可切换到其他周查看。", en: "No sessions this week. Look at another week." }
    ScheduleSession { zh: "安排会话", en: "Schedule a session" }
    ScheduleSubmit { zh: "安排会话", en: "Schedule" }
    FieldTitle { zh: "标题", en: "Title" }
    FieldDescription { zh: "说明", en: "Description" }
    FieldDate { zh: "日期", en: "Date" }
    FieldTime { zh: "开始时间", en: "Start time" }
    FieldDuration { zh: "时长（分钟）", en: "Duration (minutes)" }
    LocalTimeHint { zh: "按本机时区填写；各方看到的都是各自的本地时间。", en: "In your local time zone; everyone sees it in theirs." }
    FieldLabs { zh: "参加的实验室", en: "Labs taking part" }
    LabsHint { zh: "所选实验室的全体人员都可以进入会话。", en: "Everyone working in a chosen lab may join." }
    NoLabsToSchedule { zh: "您的机构下没有可以安排会话的实验室。", en: "There are no labs below your institution to schedule with." }
    FieldParticipants { zh: "其他参加人员（可选）", en: "Further people (optional)" }
    ParticipantsHint { zh: "例如其他专家或学员。输入姓名后搜索并添加。", en: "Other experts or trainees, for example. Search by name and add them." }
    RemoveNamed { zh: "移除 {name}", en: "Remove {name}" }
    Add { zh: "添加", en: "Add" }
    Added { zh: "已添加", en: "Added" }
    BadDateTime { zh: "请填写有效的日期和时间。", en: "Enter a valid date and time." }
    ChooseLabs { zh: "请至少选择一个实验室。", en: "Choose at least one lab." }

    // The room
    StartSession { zh: "开始会话", en: "Start session" }
    EndSession { zh: "结束会话", en: "End session" }
    ConfirmEndSession { zh: "确定结束会话吗？结束后不能再发言，记录将只读保存。", en: "End the session? No one can post any more; the record is kept read-only." }
    ConfirmEnd { zh: "确认结束", en: "Yes, end it" }
    RecordingOn { zh: "● 录制中", en: "● Recording" }
    RecordingOnSince { zh: "自 {time} 起录制", en: "Recording since {time}" }
    RecordStart { zh: "开始录制", en: "Start recording" }
    RecordStop { zh: "停止录制", en: "Stop recording" }
    Recordings { zh: "录像", en: "Recordings" }
    RecordingsNone { zh: "本次会话没有录像。", en: "This session has no recordings." }
    RecordingsPending { zh: "录像正在生成，请稍后刷新。", en: "Recordings are being prepared; refresh in a moment." }
    RecordingFailed { zh: "录制失败：{reason}", en: "Recording failed: {reason}" }
    RecCamera { zh: "摄像头", en: "Camera" }
    RecCameraAudio { zh: "摄像头和麦克风", en: "Camera and microphone" }
    RecScreen { zh: "屏幕共享", en: "Screen share" }
    RecMicrophone { zh: "麦克风", en: "Microphone" }
    RecordingMeta { zh: "{who} · {kind} · {duration} · {size}", en: "{who} · {kind} · {duration} · {size}" }
    RecordingVerify { zh: "核验录像记录", en: "Verify the recording's record" }
    SysRecordingStarted { zh: "{name} 开始录制", en: "{name} started recording" }
    SysRecordingStopped { zh: "{name} 停止了录制", en: "{name} stopped recording" }
    NotStartedYet { zh: "会话尚未开始。现在可以先交流，主持人开始后即为正式会话。", en: "The session has not started yet. You can already talk; it goes live when the host starts it." }
    Participants { zh: "参加人员", en: "Participants" }
    OnlineCount { zh: "在线 {n}/{m}", en: "{n} of {m} online" }
    Online { zh: "在线", en: "Online" }
    NotOnline { zh: "不在线", en: "Not online" }
    Host { zh: "主持人", en: "Host" }
    Chat { zh: "交流", en: "Chat" }
    ChatEmpty { zh: "还没有消息。", en: "No messages yet." }
    Message { zh: "消息", en: "Message" }
    MessagePlaceholder { zh: "输入消息（Enter 发送）", en: "Message (Enter to send)" }
    MessageKeysHint { zh: "Enter 发送，Shift+Enter 换行", en: "Enter sends, Shift+Enter starts a new line" }
    Send { zh: "发送", en: "Send" }
    Sending { zh: "待发送", en: "Sending…" }
    NewMessages { zh: "{n} 条新消息", en: "{n} new" }
    IsTyping { zh: "{names} 正在输入…", en: "{names} typing…" }
    ConnConnecting { zh: "正在连接…", en: "Connecting…" }
    ConnLive { zh: "已连接", en: "Connected" }
    ConnReconnecting { zh: "正在重新连接（第 {n} 次）", en: "Reconnecting (attempt {n})" }
    ConnOffline { zh: "离线", en: "Offline" }
    ConnClosed { zh: "已断开", en: "Disconnected" }
    ConnGone { zh: "无法进入会话", en: "Cannot enter the room" }
    ConnLoggedOut { zh: "登录已结束", en: "Login ended" }
    Reconnecting { zh: "正在重新连接…（第 {n} 次尝试，离线消息 {m} 条待发送）", en: "Reconnecting… (attempt {n}, {m} messages waiting)" }
    OfflineWaiting { zh: "网络已断开，恢复后自动重新连接（离线消息 {m} 条待发送）", en: "Offline; reconnecting when the network is back ({m} messages waiting)" }
    RetryNow { zh: "立即重试", en: "Retry now" }
    Reconnected { zh: "已恢复连接", en: "Connection restored" }
    ReloadNeeded { zh: "服务器已更新，请刷新页面。", en: "The server was updated; please reload the page." }
    ClockOffset { zh: "时钟偏差 {value}（UTC）", en: "Clock offset {value} (UTC)" }
    ClockMeasuring { zh: "时钟偏差：测量中…", en: "Clock offset: measuring…" }
    ClockOffsetHelp {
        zh: "本机时钟相对服务器 UTC 时钟的偏差及其不确定度（取最近 8 次测量中往返时延最小的一次，± 为往返时延的一半）。",
        en: "This device's clock against the server's UTC clock, with its uncertainty (best of the last 8 exchanges by round trip; ± is half the round trip)."
    }
    ErrRateLimited { zh: "发送过快，稍后会自动重发。", en: "Sending too fast; messages are resent shortly." }
    SysJoined { zh: "{name} 进入了会话", en: "{name} joined" }
    SysLeft { zh: "{name} 离开了会话", en: "{name} left" }
    SysStarted { zh: "{name} 开始了会话", en: "{name} started the session" }
    SysEnded { zh: "{name} 结束了会话", en: "{name} ended the session" }
    SysStateChanged { zh: "会话状态变为 {state}", en: "Session is now {state}" }
    EndedReadOnly { zh: "会话已结束 · 只读", en: "Session ended · read-only" }
    OverseerNotice {
        zh: "您可以查看此会话的记录，但您不是参加人员，不能进入会话发言。",
        en: "You can read this session's record, but you do not take part in it and cannot post."
    }
    StartedAt { zh: "开始时间", en: "Started" }
    EndedAt { zh: "结束时间", en: "Ended" }
    Lasted { zh: "持续时长", en: "Lasted" }
    Timeline { zh: "会话记录", en: "Timeline" }
    UnsentAfterEnd { zh: "以下消息在会话结束前未能发出，未保存到记录中：", en: "These messages could not be sent before the session ended and are not in the record:" }
    Refresh { zh: "刷新", en: "Refresh" }

    // Help requests
    HelpTitle { zh: "远程求助", en: "Remote help" }
    HelpIntroTech {
        zh: "遇到检定、校准或仪器问题时，向上级专家求助。专家接受后会打开一个会话，您可以在下方直接进入。",
        en: "Stuck with a verification, a calibration or an instrument? Ask the experts above your lab. When one accepts, a session opens and you can enter it below."
    }
    HelpIntroExpert {
        zh: "下级实验室的求助：待处理的在前，越紧急越靠前。接受后即打开与该实验室的会话。",
        en: "Help requests from the labs below you: open ones first, most urgent first. Accepting opens a session with the lab."
    }
    HelpQueueTitle { zh: "求助队列", en: "Help queue" }
    QueueEmpty { zh: "暂无待处理的求助。新的求助会自动出现在这里（每 30 秒刷新）。", en: "No open requests. New ones appear here by themselves (checked every 30 s)." }
    HandledRequests { zh: "已处理的求助", en: "Handled requests" }
    AcceptHelp { zh: "接受并进入会话", en: "Accept and open session" }
    AcceptedBy { zh: "已由 {name} 接受", en: "Accepted by {name}" }
    GoToSession { zh: "进入会话", en: "Go to session" }
    RequestHelp { zh: "发起求助", en: "Request help" }
    RequestHelpHint { zh: "写清问题和仪器型号，专家可以更快判断。", en: "Name the problem and the instrument model so an expert can judge quickly." }
    FieldTopic { zh: "问题", en: "Problem" }
    FieldInstrument { zh: "仪器", en: "Instrument" }
    InstrumentHint { zh: "名称、型号和编号，例如：电子天平 XS205，编号 B1234。", en: "Type, model and serial, e.g. analytical balance XS205, serial B1234." }
    FieldUrgency { zh: "紧急程度", en: "Urgency" }
    FieldDetails { zh: "详细情况（可选）", en: "Details (optional)" }
    SendHelpRequest { zh: "发送求助", en: "Send request" }
    HelpSent { zh: "求助已发送，专家接受后会显示在下方。", en: "Request sent. It shows below once an expert accepts." }
    MyLabRequests { zh: "本实验室的求助", en: "Your lab's requests" }
    NoHelpRequests { zh: "本实验室还没有求助记录。遇到问题时，请填写上方表单。", en: "Your lab has no help requests yet. Use the form above when you need one." }
    WithdrawHelp { zh: "撤回", en: "Withdraw" }
    HelpOpen { zh: "等待接受", en: "Waiting" }
    HelpAccepted { zh: "已接受", en: "Accepted" }
    HelpCancelled { zh: "已撤回", en: "Withdrawn" }
    UrgencyLow { zh: "低", en: "Low" }
    UrgencyNormal { zh: "一般", en: "Normal" }
    UrgencyHigh { zh: "紧急", en: "High" }
    UrgencyCritical { zh: "特急", en: "Critical" }
    JustNow { zh: "刚刚", en: "just now" }
    MinutesAgo { zh: "{n} 分钟前", en: "{n} min ago" }
    HoursAgo { zh: "{n} 小时前", en: "{n} h ago" }
    DaysAgo { zh: "{n} 天前", en: "{n} days ago" }
    QuickOpenHelp { zh: "个求助待处理", en: "open help requests" }
    QuickMyOpenHelp { zh: "{n} 个求助等待接受", en: "{n} waiting for an expert" }
    QuickLiveSessions { zh: "个会话进行中", en: "sessions live now" }

    // Comparison rounds (计量比对 / proficiency testing)
    NavRounds { zh: "比对", en: "Rounds" }
    RoundsTitle { zh: "计量比对", en: "Comparison rounds" }
    RoundsIntro {
        zh: "能力验证与实验室间比对：专家组织比对并邀请实验室，实验室在截止前提交结果，专家结束比对、审核并发布报告。",
        en: "Proficiency testing and interlaboratory comparisons: an expert runs a round and invites labs, labs submit results before the deadline, the expert closes, reviews and publishes the report."
    }
    RoundsNone { zh: "暂无比对。", en: "No rounds yet." }
    RoundNew { zh: "组织新比对", en: "New round" }
    RoundCreate { zh: "创建比对", en: "Create the round" }
    RoundFieldTitle { zh: "比对名称", en: "Title" }
    RoundFieldArtefact { zh: "传递标准 / 样品", en: "Artefact / sample" }
    RoundFieldQuantity { zh: "被测量", en: "Quantity" }
    RoundFieldUnit { zh: "单位（UCUM 代码，如 V、kPa、mg/kg）", en: "Unit (UCUM code, e.g. V, kPa, mg/kg)" }
    RoundFieldProtocol { zh: "比对方案", en: "Protocol" }
    RoundFieldDeadline { zh: "提交截止", en: "Deadline" }
    RoundFieldMethod { zh: "统计方法", en: "Statistics method" }
    RoundFieldSigmaPt { zh: "能力评定标准差 σ_pt（可选）", en: "σ_pt, standard deviation for proficiency assessment (optional)" }
    RoundFieldEnRule { zh: "En 判定规则", en: "En rule" }
    RoundFieldAssigned { zh: "指定值 x_pt", en: "Assigned value x_pt" }
    RoundFieldAssignedU { zh: "指定值的标准不确定度 u(x_pt)", en: "Standard uncertainty u(x_pt)" }
    RoundFieldBlind { zh: "盲样比对：报告发布前参加实验室看不到报告", en: "Blind: participants see the report only once it is published" }
    RoundEnIso { zh: "ISO 13528：|En| < 1 满意", en: "ISO 13528: |En| < 1 satisfactory" }
    RoundEnJjf { zh: "JJF 1117 / ISO/IEC 17043：|En| ≤ 1 满意", en: "JJF 1117 / ISO/IEC 17043: |En| ≤ 1 satisfactory" }
    MethodAuto { zh: "自动（χ² 检验通过用加权平均，否则 DerSimonian–Laird）", en: "Auto (weighted mean if χ² passes, else DerSimonian–Laird)" }
    MethodWeightedMean { zh: "加权平均", en: "Weighted mean" }
    MethodDl { zh: "DerSimonian–Laird 随机效应", en: "DerSimonian–Laird random effects" }
    MethodMp { zh: "Mandel–Paule 随机效应", en: "Mandel–Paule random effects" }
    MethodMean { zh: "算术平均", en: "Arithmetic mean" }
    MethodMedian { zh: "中位值", en: "Median" }
    MethodAlgorithmA { zh: "稳健统计 算法 A", en: "Robust Algorithm A" }
    MethodAssigned { zh: "指定值", en: "Assigned value" }
    RoundStateOpen { zh: "进行中", en: "Open" }
    RoundStateClosed { zh: "已结束", en: "Closed" }
    RoundStatePublished { zh: "已发布", en: "Published" }
    RoundSubmittedCount { zh: "{n}/{m} 个实验室已提交", en: "{n} of {m} labs submitted" }
    RoundDeadlineAt { zh: "截止：{time}", en: "Deadline: {time}" }
    RoundLabs { zh: "参加实验室", en: "Participating labs" }
    RoundInvite { zh: "邀请实验室", en: "Invite labs" }
    RoundInviteSubmit { zh: "邀请所选实验室", en: "Invite the chosen labs" }
    RoundNoLabs { zh: "尚未邀请实验室。", en: "No labs invited yet." }
    RoundSubmitted { zh: "已提交", en: "Submitted" }
    RoundNotSubmitted { zh: "未提交", en: "Not submitted" }
    RoundExcluded { zh: "不参与参考值：{reason}", en: "Left out of the reference value: {reason}" }
    RoundExclude { zh: "排除", en: "Exclude" }
    RoundInclude { zh: "重新纳入", en: "Include again" }
    RoundExcludeReason { zh: "排除理由", en: "Reason for excluding" }
    RoundClose { zh: "结束比对", en: "Close the round" }
    RoundConfirmClose { zh: "结束后实验室不能再提交或修改结果。确定结束吗？", en: "Labs can no longer submit or correct results. Close the round?" }
    RoundPublish { zh: "发布报告", en: "Publish the report" }
    RoundPublishNames { zh: "公开实验室名称", en: "Publish with the labs' names" }
    RoundConfirmPublish { zh: "发布后报告存入防篡改日志，不能再更改。确定发布吗？", en: "The report goes into the tamper-evident log and cannot change afterwards. Publish?" }
    RoundPublished { zh: "报告已发布，并已存入防篡改日志。", en: "The report is published and stored in the tamper-evident log." }
    RoundVerifyRecord { zh: "核验报告记录", en: "Verify the report's record" }
    RoundYourResult { zh: "本实验室结果", en: "Your lab's result" }
    RoundFieldValue { zh: "测量结果", en: "Measured value" }
    RoundFieldU { zh: "扩展不确定度 U", en: "Expanded uncertainty U" }
    RoundFieldK { zh: "包含因子 k", en: "Coverage factor k" }
    RoundFieldNotes { zh: "测量方法说明", en: "Method notes" }
    RoundSubmit { zh: "提交结果", en: "Submit the result" }
    RoundCorrect { zh: "更正结果", en: "Correct the result" }
    RoundSaved { zh: "结果已保存，截止前可以更正。", en: "Saved; you can correct it until the deadline." }
    RoundAttach { zh: "添加附件（PDF、图片、文本，≤256 KiB）", en: "Attach a file (PDF, image, text; ≤ 256 KiB)" }
    RoundAttachments { zh: "附件", en: "Attachments" }
    RoundNeedNumber { zh: "请输入数字。", en: "Enter a number." }
    RoundNeedPositive { zh: "必须大于 0。", en: "Must be greater than 0." }
    RoundReport { zh: "比对报告", en: "Report" }
    RoundReportHidden { zh: "报告尚未向参加实验室公开。", en: "The report is not released to participants yet." }
    RoundReference { zh: "参考值", en: "Reference value" }
    RoundMethodUsed { zh: "所用方法", en: "Method used" }
    RoundConsistency { zh: "一致性检验", en: "Consistency check" }
    RoundConsistent { zh: "χ² = {chi2}，自由度 {dof}，p = {p}，Birge 比 {birge}：一致", en: "χ² = {chi2}, dof {dof}, p = {p}, Birge ratio {birge}: consistent" }
    RoundInconsistent { zh: "χ² = {chi2}，自由度 {dof}，p = {p}，Birge 比 {birge}：不一致", en: "χ² = {chi2}, dof {dof}, p = {p}, Birge ratio {birge}: not consistent" }
    RoundOptionsUsed { zh: "选项", en: "Options" }
    RoundDownloadCsv { zh: "下载 CSV", en: "Download CSV" }
    RoundReportNumber { zh: "报告编号：{number}", en: "Report number: {number}" }
    RoundReportPdf { zh: "下载报告 PDF", en: "Download the report (PDF)" }
    RoundReportDcc { zh: "下载 DCC（XML）", en: "Download the DCC (XML)" }
    RoundReportVerify { zh: "公开核验页面", en: "Public verification page" }
    ColLab { zh: "实验室", en: "Lab" }
    ColValue { zh: "结果", en: "Value" }
    ColIncluded { zh: "参与参考值", en: "In reference" }
    VerdictSatisfactory { zh: "满意", en: "Satisfactory" }
    VerdictQuestionable { zh: "有问题", en: "Questionable" }
    VerdictUnsatisfactory { zh: "不满意", en: "Unsatisfactory" }
    Yes { zh: "是", en: "Yes" }
    No { zh: "否", en: "No" }
    RoundDashboardLink { zh: "计量比对", en: "Comparison rounds" }

    // Record verification (the ledger, checked in the browser)
    NavVerify { zh: "核验记录", en: "Verify records" }
    VerifyTitle { zh: "核验记录", en: "Verify records" }
    VerifyIntro {
        zh: "打开从计量协作网导出的记录文件，本浏览器逐条检查：每条记录的内容未被改动、确实在防篡改日志中，日志的树头由服务器签名。文件不会上传，无需登录。",
        en: "Open a record export from Jiliang and this browser checks it record by record: each record's content is unaltered and really is in the tamper-evident log, and the log's tree head is signed by the server. The file is not uploaded; no login is needed."
    }
    VerifyOpenFile { zh: "打开导出文件", en: "Open an export file" }
    VerifyOpenHint {
        zh: "JSON 格式的导出文件（jiliang-ledger-export/1），可在已结束会话的页面下载。也可以把文件拖到这里。",
        en: "A JSON export (jiliang-ledger-export/1), as downloaded from an ended session's page. You can also drop the file here."
    }
    VerifyPasteToggle { zh: "或粘贴文件内容", en: "Or paste the file's content" }
    VerifyPasteLabel { zh: "导出文件的 JSON 内容", en: "The export's JSON text" }
    VerifyPasteSubmit { zh: "核验粘贴的内容", en: "Verify the pasted text" }
    VerifyReading { zh: "正在读取文件…", en: "Reading the file…" }
    VerifyRunning { zh: "正在核验…", en: "Verifying…" }
    VerifyNotExport { zh: "这不是计量协作网的导出文件。", en: "This is not a Jiliang export." }
    VerifyNotJson { zh: "内容不是有效的 JSON。请打开从计量协作网下载的 .json 导出文件。", en: "The content is not valid JSON. Open the .json export downloaded from Jiliang." }
    VerifyWrongShape { zh: "内容是 JSON，但缺少导出文件应有的字段。", en: "The content is JSON but lacks the fields of an export." }
    VerifyTooLarge { zh: "文件过大（{size}），无法在浏览器中核验。请用 jiliang verify 命令核验。", en: "The file is too large ({size}) to verify in the browser. Use the jiliang verify command." }
    VerifyEmptyPaste { zh: "请先粘贴导出文件的内容。", en: "Paste the export's content first." }
    VerifyReadFailed { zh: "无法读取该文件，请重新选择。", en: "The file could not be read; choose it again." }
    TechnicalDetail { zh: "技术细节", en: "Technical detail" }
    VerifyAnother { zh: "核验其他文件", en: "Verify another file" }
    VerifyRecordTitle { zh: "核验单条记录", en: "Verify one record" }
    VerifyRecordIntro {
        zh: "从本服务器取得这条记录、它的包含性证明和签名树头，在本浏览器中核验。",
        en: "The record, its inclusion proof and the signed tree head come from this server and are checked in this browser."
    }

    VerifyAllOk { zh: "全部 {n} 条记录已核验", en: "All {n} records verified" }
    VerifyOneOk { zh: "该记录已核验", en: "The record is verified" }
    VerifyEmptyOk { zh: "文件有效，但不含任何记录", en: "The file is valid but holds no records" }
    VerifyOkText {
        zh: "签名树头、导出签名和每条记录的包含性证明都在本浏览器中核验通过：内容未被改动，也没有记录被删除、增加或调换顺序。",
        en: "The signed tree head, the export signature and every record's inclusion proof checked out in this browser: no content was altered and no record was removed, added or reordered."
    }
    VerifyProblems { zh: "发现 {m} 个问题", en: "{m} problems found" }
    VerifyOneProblem { zh: "发现 1 个问题", en: "1 problem found" }
    VerifyProblemsText {
        zh: "{n} 条记录中有 {ok} 条通过核验。不要信任未通过核验的内容。",
        en: "{ok} of {n} records pass. Do not rely on content that fails."
    }
    VerifyFileProblemsText {
        zh: "文件整体未通过核验（见“文件整体的问题”），因此无法确认其中任何一条记录。",
        en: "The file as a whole fails (see “Problems with the file as a whole”), so none of its records can be confirmed."
    }
    RecordUnconfirmed { zh: "? 无法确认", en: "? Unconfirmed" }
    RecordUnconfirmedTitle {
        zh: "这条记录自身没有发现问题，但文件的签名或密钥未通过核验，因此无法确认。",
        en: "Nothing is wrong with this record itself, but the file's signatures or key fail, so it cannot be confirmed."
    }
    LogNotApplicable { zh: "不适用（文件不是由本服务器的密钥签名）", en: "Not applicable (the file is not signed with this server's key)" }
    VerifyFailingRecords { zh: "未通过的记录：", en: "Records that fail:" }
    VerifyGeneralProblems { zh: "文件整体的问题", en: "Problems with the file as a whole" }
    VerifySource { zh: "来源", en: "Source" }
    SourceFile { zh: "文件 {name}（{size}）", en: "File {name} ({size})" }
    SourcePaste { zh: "粘贴的内容", en: "Pasted text" }
    SourceSession { zh: "会话“{title}”的导出（来自本服务器）", en: "Export of the session “{title}” (from this server)" }
    SourceRecord { zh: "本服务器上的记录", en: "A record from this server" }
    TreeHeadTitle { zh: "签名树头", en: "Signed tree head" }
    TreeSize { zh: "日志大小", en: "Log size" }
    TreeSizeValue { zh: "{n} 条记录", en: "{n} records" }
    SignedAt { zh: "签名时间", en: "Signed" }
    LocalTimeLabel { zh: "本地时间", en: "local time" }
    TimeOutOfRange { zh: "时间超出范围", en: "time out of range" }
    RootHash { zh: "根哈希", en: "Root hash" }
    SigningKey { zh: "签名密钥", en: "Signing key" }
    KeyFingerprintHint { zh: "密钥指纹：公钥 SHA-256 的前 16 位", en: "Key fingerprint: the first 16 hex digits of the key's SHA-256" }
    KeyUnreadable { zh: "文件中的公钥无法读取", en: "The key in the file cannot be read" }
    KeyMatches { zh: "与本服务器公布的密钥一致", en: "Matches the key this server publishes" }
    KeyDiffers { zh: "与本服务器公布的密钥不同", en: "Not the key this server publishes" }
    KeyDiffersText {
        zh: "此文件由另一把密钥（{found}）签名，本服务器公布的密钥是 {expected}。按本服务器的密钥核验，签名不能通过：文件可能来自其他服务器，也可能是伪造的。",
        en: "This file was signed by another key ({found}); this server publishes {expected}. Checked against this server's key its signatures fail: it may come from another server, or be forged."
    }
    CheckWithServerKey { zh: "按本服务器的密钥核验", en: "Check against this server's key" }
    CheckWithFileKey { zh: "按文件自带的密钥核验", en: "Check against the key in the file" }
    CheckedWithServerKey { zh: "已按本服务器公布的密钥核验。", en: "Checked against the key this server publishes." }
    FileKeyCaveat {
        zh: "按文件自带的密钥核验只能说明文件自身前后一致，不能说明它来自本服务器。请把密钥指纹与签发机构公布的指纹比对。",
        en: "Checking against the file's own key only shows the file is self-consistent, not that it comes from this server. Compare the key fingerprint with the one the issuing institution publishes."
    }
    ServerKeyUnavailable {
        zh: "无法获取本服务器公布的密钥，已按文件自带的密钥核验。请把密钥指纹与签发机构公布的指纹比对。",
        en: "Could not get the key this server publishes, so the file was checked against its own key. Compare the key fingerprint with the one the issuing institution publishes."
    }
    LogNow { zh: "本服务器的日志", en: "This server's log" }
    LogExtends { zh: "当前日志（{n} 条）包含此树头，此后只有追加", en: "The current log ({n} records) contains this head; only appended to since" }
    LogForked { zh: "本服务器当前的日志与此树头不一致：日志在此树头之后被改写过", en: "This server's current log does not extend this head: the log was rewritten after it" }
    LogUnchecked { zh: "未能检查", en: "Could not check" }
    Copy { zh: "复制", en: "Copy" }
    CopyFull { zh: "复制完整值", en: "Copy the full value" }
    CopiedShort { zh: "已复制", en: "Copied" }
    CopyFailedShown { zh: "无法自动复制，请手动复制完整值：", en: "Could not copy automatically; copy the full value by hand:" }

    RecordsTitle { zh: "记录", en: "Records" }
    OnlyProblemRecords { zh: "只显示有问题的记录", en: "Only records with problems" }
    RecordPosition { zh: "第 {n} 条", en: "No. {n}" }
    LeafIndex { zh: "索引 {index}", en: "index {index}" }
    RecordOk { zh: "✓ 已核验", en: "✓ Verified" }
    RecordBad { zh: "✗ 未通过", en: "✗ Fails" }
    RecordId { zh: "编号", en: "Id" }
    RawPayload { zh: "原始内容（规范 JSON）", en: "Raw content (canonical JSON)" }
    KindRoomEvent { zh: "会话事件", en: "Session event" }
    EvChat { zh: "消息", en: "Message" }
    EvJoin { zh: "进入会话", en: "Joined" }
    EvLeave { zh: "离开会话", en: "Left" }
    EvState { zh: "会话状态 {from} → {to}", en: "Session state {from} → {to}" }
    EvSeq { zh: "会话记录第 {seq} 条", en: "Timeline entry {seq}" }
    EvOther { zh: "事件 {kind}", en: "Event {kind}" }
    OpenItsSession { zh: "所属会话", en: "Its session" }
    PayloadUnreadable { zh: "内容无法解析为 JSON", en: "The content does not parse as JSON" }

    LocBundle { zh: "文件", en: "File" }
    LocPublicKey { zh: "公钥", en: "Public key" }
    LocTreeHead { zh: "签名树头", en: "Signed tree head" }
    LocExportSignature { zh: "导出签名", en: "Export signature" }
    LocConsistency { zh: "一致性证明第 {n} 项（自大小 {size}）", en: "Consistency proof {n} (from size {size})" }
    LocRecord { zh: "第 {n} 条记录（索引 {index}）", en: "Record No. {n} (index {index})" }
    PrUnsupportedFormat { zh: "不支持的文件格式“{found}”（应为 jiliang-ledger-export/1）", en: "Unsupported format “{found}” (expected jiliang-ledger-export/1)" }
    PrMalformedHex { zh: "字段 {field} 不是有效的十六进制：{detail}", en: "Field {field} is not valid hex: {detail}" }
    HexOddLength { zh: "长度 {len} 为奇数", en: "odd length {len}" }
    HexInvalidChar { zh: "第 {pos} 位是非法字符“{ch}”（只允许 0-9 和 a-f）", en: "invalid character “{ch}” at position {pos} (only 0-9 and a-f)" }
    HexWrongLength { zh: "应为 {expected} 字节，实际 {actual} 字节", en: "{expected} bytes expected, {actual} found" }
    PrInvalidPublicKey { zh: "不是有效的 Ed25519 公钥", en: "Not a valid Ed25519 public key" }
    PrUntrustedKey { zh: "文件由密钥 {found} 签名，但本服务器公布的密钥是 {expected}", en: "The file is signed by key {found}, but this server publishes {expected}" }
    PrBadSignatureHead { zh: "签名无效：树头不是由该密钥签发的，或已被改动", en: "Signature does not verify: the head was not signed with this key, or was altered" }
    PrBadSignatureExport {
        zh: "签名无效：文件中的记录被删除、增加或调换了顺序，或叶哈希被改动",
        en: "Signature does not verify: records were removed, added or reordered, or leaf hashes changed"
    }
    PrBadSignature { zh: "签名无效", en: "Signature does not verify" }
    PrUnverifiable { zh: "无法核验签名：所需的公钥、树头或叶哈希无法读取", en: "Signature not checked: the key, the tree head or a leaf hash it needs cannot be read" }
    PrInvalidKind { zh: "记录类型“{kind}”无效", en: "Invalid record kind “{kind}”" }
    PrInvalidId { zh: "记录编号无效", en: "Invalid record id" }
    PrInvalidRecord { zh: "记录内容无效", en: "Invalid record content" }
    PrNotCanonical { zh: "内容不是规范 JSON", en: "The content is not canonical JSON" }
    PrLeafHashMismatch {
        zh: "内容被改动：按内容计算的叶哈希 {computed} 与记录的叶哈希 {recorded} 不符",
        en: "Content altered: it hashes to {computed}, but the recorded leaf hash is {recorded}"
    }
    PrIndexOutOfRange { zh: "索引 {index} 超出日志大小 {size}", en: "Index {index} is outside the log of size {size}" }
    PrOutOfOrder { zh: "顺序错误：索引 {index} 排在索引 {previous} 之后（记录被调换或重复）", en: "Out of order: index {index} comes after index {previous} (records reordered or duplicated)" }
    PrMissingRecords { zh: "完整导出缺少索引 {from}–{to} 的记录", en: "Records {from}–{to} are missing from a full export" }
    PrInclusionProof { zh: "包含性证明不成立：{detail}", en: "Inclusion proof fails: {detail}" }
    PrMissingInclusionProof { zh: "缺少包含性证明", en: "Inclusion proof missing" }
    PrConsistencyProof { zh: "一致性证明不成立：{detail}", en: "Consistency proof fails: {detail}" }
    PrRootMismatch { zh: "由全部记录重建的根哈希 {computed} 与签名的根哈希 {signed} 不符", en: "The root rebuilt from all records is {computed}; the signed root is {signed}" }
    PfIndexOutOfRange { zh: "索引 {index} 超出大小 {size}", en: "index {index} is out of range for size {size}" }
    PfSizeBeyondTree { zh: "大小 {size} 超过现有的 {available} 个叶", en: "size {size} is beyond the {available} leaves" }
    PfOldSizeGreater { zh: "旧大小 {old} 大于新大小 {new}", en: "old size {old} is larger than new size {new}" }
    PfWrongProofLength { zh: "证明有 {actual} 个哈希，应为 {expected} 个", en: "the proof has {actual} hashes, {expected} expected" }
    PfRootMismatch { zh: "推出的根哈希 {computed} 与签名的根哈希 {expected} 不符", en: "it leads to root {computed}, but the signed root is {expected}" }
    PfOldRootMismatch { zh: "推出的旧根 {computed} 与 {expected} 不符", en: "it leads to old root {computed}, expected {expected}" }
    PfNewRootMismatch { zh: "推出的新根 {computed} 与 {expected} 不符", en: "it leads to new root {computed}, expected {expected}" }

    // Exports from the room
    VerifyLink { zh: "核验", en: "verify" }
    VerifyLinkTitle { zh: "在浏览器中核验此记录的防篡改证明", en: "Check this record's tamper-evidence proof in the browser" }
    VerifiableRecord { zh: "可核验记录", en: "Verifiable record" }
    DownloadExport { zh: "下载可核验记录", en: "Download verifiable export" }
    VerifyInBrowser { zh: "在浏览器中核验", en: "Verify in browser" }
    ExportHint {
        zh: "导出文件包含本会话的全部记录及其防篡改证明，可在“核验记录”页面或用 jiliang verify 命令离线核验。",
        en: "The export holds every record of this session with its tamper-evidence proofs; check it on the “Verify records” page or offline with jiliang verify."
    }
    Preparing { zh: "正在准备…", en: "Preparing…" }
    DownloadThis { zh: "下载此文件", en: "Download this file" }

    // Instruments: a lab's devices
    DevicesTitle { zh: "仪器设备", en: "Instruments" }
    DevicesMyLab { zh: "本实验室的仪器设备", en: "My lab's instruments" }
    DevicesNone { zh: "尚未登记任何设备。", en: "No instruments registered yet." }
    DeviceRegister { zh: "登记设备", en: "Register an instrument" }
    DeviceName { zh: "名称", en: "Name" }
    DeviceKind { zh: "设备类型", en: "Kind" }
    DeviceKindHint { zh: "如：数字多用表、压力变送器", en: "e.g. digital multimeter, pressure transmitter" }
    DeviceQuantity { zh: "被测量", en: "Quantity" }
    DeviceQuantityHint { zh: "如：直流电压、压力", en: "e.g. DC voltage, pressure" }
    DeviceUnit { zh: "单位（UCUM 代码）", en: "Unit (UCUM code)" }
    DeviceUnitHint { zh: "如 V、kPa、Cel、Ohm；区分大小写", en: "e.g. V, kPa, Cel, Ohm; case-sensitive" }
    DeviceResolution { zh: "分辨力", en: "Resolution" }
    DeviceResolutionHint { zh: "以设备单位表示，如 0.001（可不填）", en: "In the device's unit, e.g. 0.001 (optional)" }
    DeviceIsReference { zh: "这是一台参考标准（填写校准证书信息）", en: "This is a reference standard (enter its calibration certificate)" }
    DeviceCertificate { zh: "校准证书", en: "Calibration certificate" }
    DeviceCertNo { zh: "证书编号", en: "Certificate number" }
    DeviceCertIssuer { zh: "发证机构", en: "Issued by" }
    DeviceCertValidUntil { zh: "有效期至", en: "Valid until" }
    DeviceCertU { zh: "扩展不确定度 U", en: "Expanded uncertainty U" }
    DeviceCertK { zh: "包含因子 k", en: "Coverage factor k" }
    DeviceCertUnit { zh: "U 的单位", en: "Unit of U" }
    DeviceCertUnitHint { zh: "不填则与设备单位相同", en: "Leave empty for the device's unit" }
    DeviceReferenceBadge { zh: "参考标准", en: "Reference" }
    DeviceTokenRevoked { zh: "令牌已吊销", en: "Token revoked" }
    DeviceAgent { zh: "采集代理", en: "Agent" }
    DeviceAgentLastSeen { zh: "最近连接于 {time}", en: "Last connected {time}" }
    DeviceAgentNever { zh: "从未连接（手工录入）", en: "Never connected (readings typed in)" }
    DeviceReadings { zh: "已存读数", en: "Stored readings" }
    DeviceValidUntil { zh: "有效期至 {date}", en: "valid until {date}" }
    DeviceAttachedTo { zh: "接入会话", en: "Attached to" }
    DeviceOpenSession { zh: "打开会话", en: "Open the session" }
    DeviceRotateToken { zh: "更换令牌", en: "Replace token" }
    DeviceIssueToken { zh: "签发新令牌", en: "Issue a new token" }
    DeviceRevokeToken { zh: "吊销令牌", en: "Revoke token" }
    DeviceConfirmRevoke {
        zh: "吊销后，使用该令牌的采集代理会立即断开，且无法再上传读数，直到签发新令牌。确定吊销吗？",
        en: "Agents using this token are disconnected at once and cannot upload until a new token is issued. Revoke it?"
    }
    DeviceConfirmRotate {
        zh: "新令牌生效后旧令牌立即失效，正在运行的采集代理需要改用新令牌。继续吗？",
        en: "The old token stops working as soon as the new one exists; running agents must be given the new one. Continue?"
    }
    Confirm { zh: "确定", en: "Confirm" }
    DeviceTokenTitle { zh: "采集代理令牌", en: "Agent token" }
    DeviceTokenFor { zh: "“{name}”的采集代理令牌", en: "Agent token for “{name}”" }
    DeviceTokenOnce {
        zh: "令牌只显示这一次，服务器只保存其哈希值。请现在复制并妥善保管；遗失后只能签发新令牌。",
        en: "The token is shown only this once; the server keeps only its hash. Copy it now and keep it safe; if it is lost, issue a new one."
    }
    DeviceToken { zh: "令牌", en: "Token" }
    DeviceInterface { zh: "仪器接口", en: "Instrument interface" }
    DriverScpi { zh: "SCPI（网口）", en: "SCPI (network)" }
    DriverModbus { zh: "Modbus TCP", en: "Modbus TCP" }
    DriverSerial { zh: "串口", en: "Serial port" }
    DeviceAgentCommand { zh: "在仪器旁的电脑上运行", en: "Run on the computer beside the instrument" }
    DeviceAgentCommandHint {
        zh: "把示例中的仪器地址和查询命令换成本台仪器的；--queue 目录保存未上传的读数，断网或重启后继续上传。",
        en: "Replace the example instrument address and query with this instrument's; the --queue folder keeps readings not yet uploaded, across network loss and restarts."
    }
    DeviceTokenDone { zh: "我已复制，关闭", en: "I have copied it — close" }
    CopyManuallyText { zh: "无法自动复制，内容已选中，请手动复制。", en: "Could not copy automatically; the text is selected — copy it by hand." }
    FormHasProblems { zh: "请更正标出的内容。", en: "Please correct the marked fields." }
    NotANumber { zh: "请输入一个数字。", en: "Enter a number." }
    NotADate { zh: "日期格式应为 年-月-日。", en: "The date must read YYYY-MM-DD." }

    // Instruments in a live room
    Instruments { zh: "仪器", en: "Instruments" }
    NoInstruments { zh: "本会话尚未接入仪器。", en: "No instruments are attached to this session." }
    NoInstrumentsHost { zh: "尚未接入仪器：从上方列表选择本会话实验室的设备。", en: "No instruments attached yet: choose a device of the session's labs above." }
    AttachDevice { zh: "接入", en: "Attach" }
    ChooseDevice { zh: "选择要接入的设备…", en: "Choose a device to attach…" }
    AttachedElsewhere { zh: "已接入其他会话", en: "attached to another session" }
    DetachDevice { zh: "从会话移除", en: "Detach from the session" }
    AgentConnected { zh: "已连接", en: "Connected" }
    AgentDisconnected { zh: "代理未连接", en: "Agent not connected" }
    AgentManual { zh: "手工录入", en: "Typed in" }
    DeviceFaultShort { zh: "设备故障：{kind}", en: "Device fault: {kind}" }
    DeviceFaultTitle { zh: "设备故障（{kind}）", en: "Device fault ({kind})" }
    DeviceFaultHint {
        zh: "网络连接正常，是仪器本身或仪器与代理之间的连接出了问题：请检查仪器的电源、接线和设置。",
        en: "The network is fine; the instrument or its link to the agent is not: check the instrument's power, cabling and settings."
    }
    FaultTimeout { zh: "无响应", en: "no answer" }
    FaultGarbage { zh: "回复无法识别", en: "unreadable reply" }
    FaultDisconnected { zh: "端口断开", en: "port closed" }
    FaultInstrumentError { zh: "仪器报错", en: "instrument error" }
    FaultIo { zh: "代理本机故障", en: "agent's own fault" }
    LastReadingAge { zh: "最近读数距今", en: "Last reading" }
    ReadingsReceived { zh: "本页收到读数", en: "Readings received" }
    QueueDepth { zh: "待上传", en: "Waiting to upload" }
    AgentClock { zh: "代理时钟偏差", en: "Agent clock offset" }
    Quarantined { zh: "被拒读数（已隔离）", en: "Refused readings (quarantined)" }
    ManualReading { zh: "手工录入读数", en: "Type a reading in" }
    ManualSend { zh: "录入", en: "Enter" }
    ManualStored { zh: "已保存为第 {seq} 个读数。", en: "Stored as reading {seq}." }
    ManualWaiting { zh: "待发送（{time} 录入）", en: "Waiting to be sent (typed {time})" }
    ManualWaitingHelp { zh: "网络恢复后自动发送，每个读数只保存一次。", en: "Sent by itself when the network is back; each reading is stored once." }
    ManualRefused { zh: "读数 {value} 未被保存：{reason}", en: "Reading {value} was not stored: {reason}" }
    ChannelUut { zh: "被检仪器", en: "Unit under test" }
    ChannelReference { zh: "参考标准", en: "Reference" }
    ChartMpe { zh: "最大允许误差 ±（{unit}）", en: "MPE ± ({unit})" }
    ChartValuesLabel { zh: "两个通道最近两分钟的读数曲线，共 {points} 个点", en: "Both channels' readings over the last two minutes, {points} points" }
    ChartErrorTitle { zh: "示值误差 E", en: "Error E" }
    ChartErrorLabel { zh: "示值误差 E 曲线与 ±MPE 带，最新 E = {value} {unit}", en: "Error E with the ±MPE band; latest E = {value} {unit}" }
    ChartOffScale { zh: "{n} 个点超出坐标范围（如换挡瞬间），画在图的边缘", en: "Off scale (such as at a level change), drawn at the edge: {n}" }
    ChartWaiting { zh: "等待读数…", en: "Waiting for readings…" }

    // The comparison in a live room
    ComparisonTitle { zh: "比对", en: "Comparison" }
    NoComparison { zh: "主持人尚未设置比对。", en: "The host has not set a comparison up yet." }
    ComparisonSetup { zh: "比对设置", en: "Comparison setup" }
    ComparisonSave { zh: "保存设置", en: "Save the setup" }
    ComparisonChange { zh: "修改设置", en: "Change the setup" }
    ComparisonNew { zh: "设置新的比对", en: "Set up a new comparison" }
    ComparisonSummary {
        zh: "被检：{uut}；参考标准：{reference}；每点 {n} 个读数；参考标准 U = {u}（k = {k}）",
        en: "Unit under test: {uut}; reference: {reference}; {n} readings per point; reference U = {u} (k = {k})"
    }
    TestPoints { zh: "检定点（标称值）", en: "Test points (nominal values)" }
    TestPointsHint { zh: "用逗号分隔，如 1, 5, 10", en: "Separated by commas, e.g. 1, 5, 10" }
    PointsInvalid { zh: "请输入一个或多个数字，用逗号分隔。", en: "Enter one or more numbers separated by commas." }
    ReadingsPerPoint { zh: "每点读数个数", en: "Readings per point" }
    WholeNumber { zh: "请输入正整数。", en: "Enter a whole number above 0." }
    MpeForm { zh: "最大允许误差形式", en: "MPE form" }
    MpeFormAbsolute { zh: "绝对值 ±a", en: "Absolute ±a" }
    MpeFormRelative { zh: "相对值 ±a% 读数", en: "Relative ±a % of reading" }
    MpeFormFiducial { zh: "引用误差 ±a% × 引用值", en: "Fiducial ±a % of span" }
    MpeFormReadingRange { zh: "±(a% 读数 + b% 量程)", en: "±(a % of reading + b % of range)" }
    MpeFormReadingDigits { zh: "±(a% 读数 + n 个字)", en: "±(a % of reading + n digits)" }
    MpeValue { zh: "a（被检单位）", en: "a (UUT unit)" }
    MpePercent { zh: "a（%）", en: "a (%)" }
    MpeSpan { zh: "引用值", en: "Span" }
    MpeReadingPercent { zh: "a（% 读数）", en: "a (% of reading)" }
    MpeRangePercent { zh: "b（% 量程）", en: "b (% of range)" }
    MpeRange { zh: "量程", en: "Range" }
    MpeDigits { zh: "n（字数）", en: "n (digits)" }
    MpeDigitValue { zh: "1 个字的值", en: "Value of one digit" }
    MpeLabel { zh: "最大允许误差：", en: "MPE:" }
    MpeTextAbsolute { zh: "±{a} {unit}", en: "±{a} {unit}" }
    MpeTextRelative { zh: "±{a}% 读数", en: "±{a} % of reading" }
    MpeTextFiducial { zh: "±{a}% × {b} {unit}（引用值）", en: "±{a} % of {b} {unit} (span)" }
    MpeTextReadingRange { zh: "±({a}% 读数 + {b}% × {c} {unit})", en: "±({a} % of reading + {b} % of {c} {unit})" }
    MpeTextReadingDigits { zh: "±({a}% 读数 + {b} 个字，1 个字 = {c} {unit})", en: "±({a} % of reading + {b} digits of {c} {unit})" }
    RefU { zh: "参考标准的扩展不确定度 U", en: "Reference's expanded uncertainty U" }
    RefUHint { zh: "不填则取其校准证书的 U 与 k", en: "Empty: U and k from its calibration certificate" }
    UutResolutionHint { zh: "被检仪器的分辨力；不填则取登记值", en: "Of the unit under test; empty: as registered" }
    ColNominal { zh: "标称值（{unit}）", en: "Nominal ({unit})" }
    ColStatus { zh: "状态（被检/标准读数）", en: "Status (UUT/ref readings)" }
    ColMeanUut { zh: "x̄ 被检", en: "x̄ UUT" }
    ColMeanRef { zh: "x̄ 标准", en: "x̄ ref" }
    ColEnHelp { zh: "En = E / MPEV：|En| ≤ 1 表示在最大允许误差内", en: "En = E / MPEV: |En| ≤ 1 lies within the MPE" }
    ColVerdict { zh: "结论", en: "Verdict" }
    ColActions { zh: "操作", en: "Actions" }
    PointPending { zh: "未开始", en: "Not started" }
    PointCollecting { zh: "采集中", en: "Collecting" }
    PointComplete { zh: "已完成", en: "Complete" }
    PointStart { zh: "开始第 {n} 点", en: "Start point {n}" }
    PointRestart { zh: "重测第 {n} 点", en: "Redo point {n}" }
    VerdictPass { zh: "合格", en: "Pass" }
    VerdictFail { zh: "不合格", en: "Fail" }
    VerdictIndeterminate { zh: "待定", en: "Indeterminate" }
    Provisional { zh: "（暂定）", en: " (provisional)" }
    ComparisonFinish { zh: "完成比对", en: "Finish the comparison" }
    ComparisonConfirmFinish {
        zh: "完成后，比对结果与所用的全部读数将作为原始记录存入防篡改日志，不能再更改。确定完成吗？",
        en: "The result and every reading used will be stored as a raw record in the tamper-evident log and cannot change afterwards. Finish?"
    }
    ComparisonStored { zh: "比对已完成，原始记录已存入防篡改日志。", en: "The comparison is finished; its raw record is in the tamper-evident log." }
    ComparisonRecord { zh: "核验原始记录", en: "Verify the raw record" }
    ComparisonCsv { zh: "下载读数 CSV", en: "Download the readings (CSV)" }
    CertTitle { zh: "校准证书", en: "Calibration certificates" }
    CertNavLabel { zh: "证书", en: "Certificates" }
    CertIntro { zh: "本机构及下级机构签发或收到的校准证书。", en: "Calibration certificates issued by or to your institution and those below it." }
    CertNone { zh: "还没有证书。", en: "No certificates yet." }
    CertNumber { zh: "证书编号", en: "Certificate number" }
    CertIssueDate { zh: "签发日期", en: "Date of issue" }
    CertLab { zh: "校准单位", en: "Calibration laboratory" }
    CertCustomer { zh: "委托单位", en: "Customer" }
    CertInstrument { zh: "器具", en: "Instrument" }
    CertSigner { zh: "批准人", en: "Signed by" }
    CertStatus { zh: "状态", en: "Status" }
    CertValid { zh: "有效", en: "valid" }
    CertRevoked { zh: "已撤销", en: "revoked" }
    CertSuperseded { zh: "已被替代", en: "superseded" }
    CertIssue { zh: "签发校准证书", en: "Issue a calibration certificate" }
    CertIssueConfirm {
        zh: "将以您的名义签发校准证书，并记入防篡改日志。确定签发吗？",
        en: "A calibration certificate will be issued in your name and entered in the tamper-evident log. Issue it?"
    }
    CertIssued { zh: "证书 {number} 已签发。", en: "Certificate {number} issued." }
    CertPdf { zh: "下载 PDF", en: "Download PDF" }
    CertDcc { zh: "下载 DCC (XML)", en: "Download DCC (XML)" }
    CertVerifyLink { zh: "公开核验页", en: "Public verification page" }
    CertRevoke { zh: "撤销", en: "Revoke" }
    CertReplace { zh: "签发替代证书", en: "Issue a replacement" }
    CertReason { zh: "原因", en: "Reason" }
    CertReasonHint { zh: "核验页会公开显示此原因。", en: "The verification page shows this reason publicly." }
    CertRevokeConfirm { zh: "确定撤销", en: "Revoke it" }
    CertReplaceConfirm { zh: "确定签发替代证书", en: "Issue the replacement" }
    CertOfRecord { zh: "本记录的校准证书", en: "Certificates of this record" }
    CertPublicTitle { zh: "证书核验", en: "Certificate verification" }
    CertPublicIntro {
        zh: "本页显示计量协作网签发的校准证书的状态，并在您的浏览器中核验它在防篡改日志中的记录。",
        en: "This page shows the status of a calibration certificate issued on Jiliang and checks its entry in the tamper-evident log in your browser."
    }
    CertStatusValid { zh: "有效：该证书真实有效。", en: "Valid: this certificate is genuine and in force." }
    CertStatusRevoked { zh: "已撤销：该证书已被签发机构撤销，不再有效。", en: "Revoked: the issuing laboratory has revoked this certificate; it is no longer valid." }
    CertStatusSuperseded { zh: "已被替代：该证书已由新证书替代，不再有效。", en: "Superseded: a newer certificate replaces this one; it is no longer valid." }
    CertStatusReason { zh: "原因：{reason}", en: "Reason: {reason}" }
    CertReplacedBy { zh: "替代证书：", en: "Replaced by:" }
    CertUnknown {
        zh: "没有编号为 {number} 的证书。请核对编号；如果编号无误，该证书可能是伪造的。",
        en: "There is no certificate numbered {number}. Check the number; if it is right, the certificate may be forged."
    }
    CertLedgerTitle { zh: "防篡改日志中的记录", en: "Entry in the tamper-evident log" }
    CertLedgerPending { zh: "日志正在签名该证书的记录，请稍后刷新本页。", en: "The log is still signing this certificate's entry; reload the page shortly." }
    CertLedgerStatus { zh: "日志证实的状态：{status}", en: "Status proven by the log: {status}" }
    CertLedgerStatusUnchecked { zh: "日志记录未通过校验，无法证实状态。", en: "The log entries do not verify: the status cannot be proven." }
    CertLedgerStatusDiffers {
        zh: "警告：服务器所示状态与防篡改日志不一致（日志记载为“{status}”）。请以日志为准并联系签发机构。",
        en: "Warning: the status the server shows differs from the tamper-evident log (the log says \"{status}\"). Trust the log and contact the issuing laboratory."
    }
    CertLookupAnother { zh: "核验其他证书", en: "Verify another certificate" }
    CertLookupLabel { zh: "证书编号（如 JL-2026-000001）", en: "Certificate number (e.g. JL-2026-000001)" }
    CertLookupSubmit { zh: "核验", en: "Verify" }

    MediaTitle { zh: "音视频", en: "Audio and video" }
    MediaMicrophone { zh: "麦克风", en: "Microphone" }
    MediaCamera { zh: "摄像头", en: "Camera" }
    MediaScreen { zh: "共享屏幕", en: "Share screen" }
    MediaScreenTile { zh: "屏幕", en: "Screen" }
    MediaMute { zh: "静音", en: "Mute" }
    MediaUnmute { zh: "取消静音", en: "Unmute" }
    MediaMuted { zh: "已静音", en: "Muted" }
    MediaNoVideo { zh: "不接收视频（仅音频）", en: "Do not receive video (audio only)" }
    MediaOpening { zh: "正在打开设备，请在浏览器提示中允许…", en: "Opening the device; allow it in the browser's prompt…" }
    MediaDenied { zh: "浏览器未获准使用该设备，请在地址栏的网站权限中允许后重试。", en: "The browser was not allowed to use the device; allow it in the site permissions of the address bar and try again." }
    MediaMissing { zh: "未找到该设备，请检查是否已连接。", en: "No such device was found; check that it is connected." }
    MediaBusy { zh: "该设备正被其他程序或标签页占用。", en: "Another program or tab is using the device." }
    MediaFailed { zh: "无法打开该设备（需要 HTTPS 和支持 WebRTC 的浏览器）。", en: "The device could not be opened (HTTPS and a browser with WebRTC are needed)." }
    MediaReplaced { zh: "音视频已在您的另一个标签页中打开。", en: "Your audio and video moved to another tab." }
    MediaNobody { zh: "还没有人共享音视频。", en: "Nobody is sharing audio or video yet." }
    MediaYou { zh: "我", en: "You" }
    MediaMode { zh: "传输模式", en: "Mode" }
    MediaModeAuto { zh: "自动（按网络状况）", en: "Automatic (by the link)" }
    MediaModeVideo { zh: "视频", en: "Video" }
    MediaModeAudio { zh: "仅音频", en: "Audio only" }
    MediaModeData { zh: "仅数据（文字与读数）", en: "Data only (chat and readings)" }
    MediaModeNowAuto { zh: "当前：{mode}（自动）", en: "Now: {mode} (automatic)" }
    MediaModeNowPinned { zh: "当前：{mode}（手动）", en: "Now: {mode} (chosen)" }
    MediaLinkGood { zh: "网络良好", en: "Good link" }
    MediaLinkFair { zh: "网络一般", en: "Fair link" }
    MediaLinkPoor { zh: "网络较差", en: "Poor link" }
    MediaCameraDevice { zh: "摄像头设备", en: "Camera device" }
    MediaMicrophoneDevice { zh: "麦克风设备", en: "Microphone device" }
    MediaCameraDefault { zh: "默认（手机用后置摄像头）", en: "Default (a phone's rear camera)" }
    MediaMicrophoneDefault { zh: "默认", en: "Default" }
    MediaDeviceNumbered { zh: "设备 {n}", en: "Device {n}" }
    MediaDeviceGone { zh: "正在使用的设备已断开，已改用默认设备。", en: "The device in use was disconnected; the default one is used instead." }
    MediaSpeaking { zh: "正在发言", en: "Speaking" }
    MediaVoices { zh: "正在收听", en: "Listening to" }
}
