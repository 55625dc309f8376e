//! Message catalogue: each key with its Chinese and English text.
//!
//! Placeholders are written `{name}` and filled by `I18n::tf`; both
//! languages of a key must use the same placeholders.

use super::Locale;

macro_rules! catalog {
    ($( $key:ident { zh: $zh:literal, en: $en:literal } )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Msg { $($key),* }

        impl Msg {
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
}
