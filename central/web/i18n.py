"""Page languages: Arabic (default), Kurdish Sorani and English.

Pure lookups and formatters, so templates hold no logic: `t(key)` for a text,
`num`/`date`/`datetime` for figures in the page's own digits and month names
(Arabic-Indic digits for Arabic and Sorani; Iraq's Gregorian month names).
Times are shown in Iraq's time zone (UTC+3, no daylight saving).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

LANGS = ("ar", "ckb", "en")
DEFAULT = "ar"
RTL = frozenset({"ar", "ckb"})
IRAQ = timezone(timedelta(hours=3), "AST")
_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

MONTHS = {
    "ar": ("كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول",
           "تشرين الأول", "تشرين الثاني", "كانون الأول"),
    "ckb": ("کانوونی دووەم", "شوبات", "ئازار", "نیسان", "ئایار", "حوزەیران", "تەممووز", "ئاب",
            "ئەیلوول", "تشرینی یەکەم", "تشرینی دووەم", "کانوونی یەکەم"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}

# key -> (Arabic, Sorani, English)
TEXTS: dict[str, tuple[str, str, str]] = {
    "site": ("بوابة أور الإلكترونية", "دەروازەی ئەلیکترۆنی ئوور", "Ur e-services portal"),
    "lang_name": ("العربية", "کوردی", "English"),
    "home": ("الرئيسية", "سەرەکی", "Home"),
    "verify": ("التحقق من وثيقة", "پشتڕاستکردنەوەی بەڵگەنامە", "Verify a document"),
    "verify_intro": ("امسح رمز QR على الوثيقة بكاميرا الهاتف، أو الصق نص الرمز هنا.",
                     "کۆدی QR ی سەر بەڵگەنامەکە بە کامێرای مۆبایل بخوێنەرەوە، یان دەقی کۆدەکە لێرە دابنێ.",
                     "Scan the QR code on the document with a phone camera, or paste the code's text here."),
    "code_text": ("نص الرمز", "دەقی کۆد", "Code text"),
    "check": ("تحقق", "پشکنین", "Check"),
    "search": ("بحث", "گەڕان", "Search"),
    "letters": ("الاستعلام عن كتاب رسمي", "پرسیارکردن لە نووسراوی فەرمی", "Official letter inquiry"),
    "letters_intro": ("أدخل رقم الكتاب وتاريخه كما هما مطبوعان عليه.",
                      "ژمارە و بەرواری نووسراوەکە بنووسە وەک لەسەری چاپکراوە.",
                      "Enter the letter's number and date as printed on it."),
    "letter_number": ("رقم الكتاب", "ژمارەی نووسراو", "Letter number"),
    "letter_date": ("تاريخ الكتاب", "بەرواری نووسراو", "Letter date"),
    "track": ("متابعة معاملة", "بەدواداچوونی مامەڵە", "Track an application"),
    "track_intro": ("أدخل رقم المتابعة من وصل الكشك وآخر أربعة أرقام من رقم الهاتف المدوّن في الطلب.",
                    "ژمارەی بەدواداچوون لە پسوولەی کیۆسک و چوار ژمارەی کۆتایی مۆبایلی ناو فۆرمەکە بنووسە.",
                    "Enter the tracking number from the kiosk slip and the last four digits of the "
                    "mobile number given on the form."),
    "tracking_number": ("رقم المتابعة", "ژمارەی بەدواداچوون", "Tracking number"),
    "mobile_last4": ("آخر أربعة أرقام من الهاتف", "چوار ژمارەی کۆتایی مۆبایل", "Last four digits of the mobile"),
    "status": ("الحالة", "دۆخ", "Status"),
    "reason": ("السبب", "هۆکار", "Reason"),
    "agency": ("الجهة", "دەزگا", "Agency"),
    "office": ("الدائرة", "فەرمانگە", "Office"),
    "document_id": ("رقم الوثيقة", "ژمارەی بەڵگەنامە", "Document number"),
    "document_type": ("نوع الوثيقة", "جۆری بەڵگەنامە", "Document type"),
    "issued_at": ("تاريخ الإصدار", "بەرواری دەرچوون", "Issued"),
    "expires_at": ("تاريخ الانتهاء", "بەرواری بەسەرچوون", "Expires"),
    "compare": ("قارن هذه الحقول بالورقة: رمز صحيح ملصق على ورقة مزورة يبقى صحيحاً.",
                "ئەم خانانە لەگەڵ کاغەزەکە بەراورد بکە: کۆدێکی دروست لەسەر کاغەزێکی ساختە هەر دروستە.",
                "Compare these fields with the paper: a genuine code stuck on a forged paper still verifies."),
    "technical": ("التفاصيل الفنية", "وردەکاری تەکنیکی", "Technical detail"),
    "V_VALID": ("صالحة", "دروستە", "VALID"),
    "V_REVOKED": ("ملغاة", "هەڵوەشێنراوە", "REVOKED"),
    "V_EXPIRED": ("منتهية الصلاحية", "بەسەرچووە", "EXPIRED"),
    "V_INVALID": ("غير صالحة", "نادروستە", "INVALID"),
    "V_UNKNOWN_KEY": ("مفتاح غير معروف", "کلیلی نەناسراو", "UNKNOWN KEY"),
    "V_NOT_YET_VALID": ("لم تسرِ بعد", "هێشتا کارا نییە", "NOT YET VALID"),
    "V_STALE": ("لا يمكن التحقق الآن", "ئێستا پشکنین ناکرێت", "CANNOT CHECK NOW"),
    "VX_VALID": ("الوثيقة صادرة عن الجهة المذكورة ولم تُلغَ.", "بەڵگەنامەکە لەلایەن ئەو دەزگایەوە دەرچووە و هەڵنەوەشێنراوەتەوە.",
                 "The document was issued by the agency shown and has not been revoked."),
    "VX_REVOKED": ("ألغت الجهة المصدرة هذه الوثيقة. لا تقبلها.", "دەزگای دەرکەر ئەم بەڵگەنامەیەی هەڵوەشاندۆتەوە. وەری مەگرە.",
                   "The issuing agency revoked this document. Do not accept it."),
    "VX_EXPIRED": ("انتهت مدة صلاحية هذه الوثيقة.", "ماوەی ئەم بەڵگەنامەیە تەواو بووە.", "This document's validity has ended."),
    "VX_INVALID": ("الرمز لا يطابق وثيقة صادرة. لا تقبلها.", "کۆدەکە لەگەڵ هیچ بەڵگەنامەیەکی دەرچوو ناگونجێت. وەری مەگرە.",
                   "The code does not match an issued document. Do not accept it."),
    "VX_UNKNOWN_KEY": ("وُقّعت بمفتاح غير معروف لدينا.", "بە کلیلێکی نەناسراو واژۆ کراوە.", "Signed with a key we do not know."),
    "VX_NOT_YET_VALID": ("تاريخ إصدارها في المستقبل.", "بەرواری دەرچوونی لە داهاتوودایە.", "Its issue date is in the future."),
    "VX_STALE": ("حاول لاحقاً.", "دواتر هەوڵ بدەرەوە.", "Try again later."),
    "old_form": ("هذا رمز من الصيغة القديمة ولا يمكن فتحه كرابط بشكل موثوق. الصق نص الرمز كما يقرؤه الماسح في الحقل أدناه.",
                 "ئەمە کۆدێکی شێوازی کۆنە و وەک بەستەر بە باوەڕپێکراوی ناکرێتەوە. دەقی کۆدەکە وەک سکانەر دەیخوێنێتەوە لە خانەی خوارەوە دابنێ.",
                 "This is an older code that cannot be opened reliably as a link. Paste the code's text, "
                 "as a scanner reads it, into the box below."),
    "not_found_letter": ("لا يوجد كتاب بهذا الرقم والتاريخ.", "هیچ نووسراوێک بەم ژمارە و بەروارە نییە.",
                         "No letter with this number and date."),
    "from": ("من", "لە", "From"),
    "to": ("إلى", "بۆ", "To"),
    "holder": ("لدى", "لای", "Now with"),
    "route": ("مسار الكتاب", "ڕێڕەوی نووسراو", "Routing history"),
    "time": ("الوقت", "کات", "Time"),
    "L_SENT": ("مُرسَل", "نێردراو", "Sent"),
    "L_RECEIVED": ("مُستلَم", "وەرگیراو", "Received"),
    "L_IN_PROGRESS": ("قيد الإنجاز", "لە جێبەجێکردندایە", "In progress"),
    "L_ANSWERED": ("تمت الإجابة", "وەڵام دراوەتەوە", "Answered"),
    "L_RETURNED": ("أُعيد", "گەڕێنراوەتەوە", "Returned"),
    "L_CLOSED": ("مُغلَق", "داخراو", "Closed"),
    "not_found_track": ("لم نجد معاملة بهذه المعلومات. تأكد من الرقم وآخر أربعة أرقام من الهاتف.",
                        "هیچ مامەڵەیەک بەم زانیارییانە نەدۆزرایەوە. ژمارەکە و چوار ژمارەی کۆتایی مۆبایل بپشکنە.",
                        "No application matches. Check the number and the last four digits of the mobile."),
    "step": ("الخطوة الحالية", "هەنگاوی ئێستا", "Current step"),
    "since": ("منذ", "لە", "Since"),
    "sla_due": ("الموعد المحدد للإنجاز", "کاتی دیاریکراوی تەواوکردن", "Due by"),
    "overdue": ("متأخرة", "دواکەوتووە", "Overdue"),
    "remaining": ("المتبقي", "ماوە", "Remaining"),
    "hours": ("ساعة", "کاتژمێر", "hours"),
    "error": ("خطأ", "هەڵە", "Error"),
    "E_400": ("الطلب غير صحيح.", "داواکارییەکە نادروستە.", "The request is not valid."),
    "E_403": ("غير مسموح.", "ڕێگەپێنەدراوە.", "Not allowed."),
    "E_404": ("الصفحة غير موجودة.", "پەڕەکە نییە.", "No such page."),
    "E_405": ("الطريقة غير مسموحة.", "ئەم ڕێگایە ڕێگەپێدراو نییە.", "Method not allowed."),
    "E_413": ("الطلب كبير جداً.", "داواکارییەکە زۆر گەورەیە.", "The request is too large."),
    "E_422": ("بعض الحقول غير صحيحة.", "هەندێک خانە نادروستن.", "Some fields are not valid."),
    "E_429": ("طلبات كثيرة جداً. انتظر قليلاً ثم حاول مجدداً.", "داواکاری زۆرە. کەمێک چاوەڕێ بکە و دووبارە هەوڵ بدەرەوە.",
              "Too many requests. Wait a little and try again."),
    "E_500": ("حدث خطأ في الخادم. حاول لاحقاً.", "هەڵەیەک لە ڕاژەکار ڕوویدا. دواتر هەوڵ بدەرەوە.",
              "Something went wrong on the server. Try again later."),
    "bad_tracking": ("رقم المتابعة غير صحيح (رقم التحقق لا يطابق).", "ژمارەی بەدواداچوون هەڵەیە (ژمارەی پشکنین ناگونجێت).",
                     "The tracking number is wrong (its check digit does not match)."),
    "bad_last4": ("أدخل أربعة أرقام.", "چوار ژمارە بنووسە.", "Enter four digits."),
    "bad_date": ("التاريخ يجب أن يكون بصيغة سنة-شهر-يوم.", "بەروار دەبێت بە شێوەی ساڵ-مانگ-ڕۆژ بێت.",
                 "The date must be year-month-day."),
    "bad_number": ("رقم الكتاب غير صحيح.", "ژمارەی نووسراو نادروستە.", "The letter number is not valid."),
    "A_received": ("مُستلَمة", "وەرگیراو", "Received"),
    "A_in_review": ("قيد المراجعة", "لە پێداچوونەوەدایە", "In review"),
    "A_returned": ("أُعيدت لاستكمال النواقص", "گەڕێنراوەتەوە بۆ تەواوکردن", "Returned for correction"),
    "A_visit_requested": ("مطلوب حضورك إلى الدائرة", "پێویستە سەردانی فەرمانگە بکەیت", "Visit to the office requested"),
    "A_rejected": ("مرفوضة", "ڕەتکراوەتەوە", "Rejected"),
    "A_completed": ("مُنجزة", "تەواوبوو", "Completed"),
    "footer": ("لا تُخزّن هذه الصفحات أي بيانات شخصية في متصفحك.", "ئەم پەڕانە هیچ زانیارییەکی کەسی لە وێبگەڕەکەت هەڵناگرن.",
               "These pages keep no personal data in your browser."),
    "staff_login": ("دخول الموظفين", "چوونەژوورەوەی فەرمانبەران", "Staff login"),
    "username": ("اسم المستخدم", "ناوی بەکارهێنەر", "Username"),
    "password": ("كلمة المرور", "وشەی نهێنی", "Password"),
    "totp": ("رمز التحقق (للمسجلين والمشرفين)", "کۆدی پشتڕاستکردنەوە (بۆ تۆمارکاران و سەرپەرشتیاران)",
             "Authenticator code (registrars, supervisors, admins)"),
    "login": ("دخول", "چوونەژوورەوە", "Log in"),
    "logout": ("خروج", "دەرچوون", "Log out"),
    "login_failed": ("اسم المستخدم أو كلمة المرور أو الرمز غير صحيح، أو الحساب مقفل مؤقتاً.",
                     "ناو یان وشەی نهێنی یان کۆد هەڵەیە، یان هەژمارەکە کاتی داخراوە.",
                     "Wrong username, password or code, or the account is locked for a while."),
    "worklist": ("قائمة العمل", "لیستی کار", "Worklist"),
    "no_cases": ("لا توجد معاملات مفتوحة.", "هیچ مامەڵەیەکی کراوە نییە.", "No open cases."),
    "open_cases": ("المعاملات المفتوحة", "مامەڵە کراوەکان", "Open cases"),
    "page": ("الصفحة", "پەڕە", "Page"),
    "next_page": ("التالية", "دواتر", "Next"),
    "prev_page": ("السابقة", "پێشتر", "Previous"),
    "bad_page": ("رقم الصفحة غير صحيح.", "ژمارەی پەڕە نادروستە.", "The page number is not valid."),
    "service": ("الخدمة", "خزمەتگوزاری", "Service"),
    "form": ("استمارة الطلب", "فۆرمی داواکاری", "Application form"),
    "act": ("إجراء", "کردار", "Act"),
    "action": ("الإجراء", "کردار", "Action"),
    "note": ("ملاحظة", "تێبینی", "Note"),
    "forward_to": ("إحالة إلى (للإحالة فقط)", "ڕەوانەکردن بۆ (تەنها بۆ ڕەوانەکردن)", "Forward to (forward only)"),
    "do_act": ("تنفيذ", "جێبەجێکردن", "Apply"),
    "history": ("سجل التدقيق", "تۆماری وردبینی", "Audit trail"),
    "actor": ("المنفّذ", "ئەنجامدەر", "By"),
    "ACT_approve": ("موافقة", "پەسەندکردن", "Approve"),
    "ACT_forward": ("إحالة", "ڕەوانەکردن", "Forward"),
    "ACT_return": ("إعادة للاستكمال", "گەڕاندنەوە بۆ تەواوکردن", "Return for correction"),
    "ACT_request_visit": ("طلب حضور", "داوای سەردان", "Request a visit"),
    "ACT_reject": ("رفض", "ڕەتکردنەوە", "Reject"),
    "ACT_issue": ("إصدار", "دەرکردن", "Issue"),
    "ACT_visit_done": ("تمت الزيارة", "سەردان کرا", "Visit done"),
    "R_clerk": ("موظف", "فەرمانبەر", "Clerk"),
    "R_registrar": ("مسجّل", "تۆمارکار", "Registrar"),
    "R_letters_officer": ("موظف المراسلات", "فەرمانبەری نووسراوەکان", "Letters officer"),
    "R_supervisor": ("مشرف", "سەرپەرشتیار", "Supervisor"),
    "R_auditor": ("مدقق", "وردبین", "Auditor"),
    "R_admin": ("مدير النظام", "بەڕێوەبەری سیستەم", "Administrator"),
    "E_401": ("غير مصرح.", "ڕێگەپێنەدراو.", "Not logged in."),
    "E_409": ("لا يمكن تنفيذ هذا الإجراء الآن.", "ئەم کردارە ئێستا ناکرێت.", "This action cannot be done now."),
    "csrf": ("انتهت صلاحية النموذج. أعد تحميل الصفحة.", "فۆرمەکە بەسەرچووە. پەڕەکە نوێ بکەرەوە.",
             "The form has expired. Reload the page."),
    "reconciliation": ("المطابقة اليومية للتحصيلات", "بەراوردی ڕۆژانەی کۆکردنەوەکان", "Daily reconciliation of collections"),
    "no_collections": ("لا توجد تحصيلات في هذا اليوم.", "هیچ کۆکردنەوەیەک لەم ڕۆژەدا نییە.", "No collections on this day."),
    "station": ("المحطة", "وێستگە", "Station"),
    "amount": ("المبلغ (دينار)", "بڕ (دینار)", "Amount (IQD)"),
    "K_matched": ("مطابقة", "گونجاو", "Matched"),
    "K_missing_at_central": ("ناقصة في المركز", "لە ناوەند نییە", "Missing at central"),
    "K_missing_at_station": ("ناقصة في المحطة", "لە وێستگە نییە", "Missing at station"),
    "K_mismatched": ("غير مطابقة", "ناگونجاو", "Mismatched"),
    "K_unresolved_at_station": ("معلّقة في المحطة", "هەڵپەسێردراو لە وێستگە", "Unresolved at station"),
    "letters_console": ("المراسلات الرسمية", "نووسراوە فەرمییەکان", "Official letters"),
    "register_letter": ("تسجيل كتاب", "تۆمارکردنی نووسراو", "Register a letter"),
    "subject": ("الموضوع", "بابەت", "Subject"),
    "documents": ("الوثائق المؤمّنة", "بەڵگەنامە پارێزراوەکان", "Secured documents"),
    "issue_document": ("إصدار وثيقة", "دەرکردنی بەڵگەنامە", "Issue a document"),
    "fields_lines": ("الحقول، سطر لكل حقل: الاسم=القيمة", "خانەکان، هەر دێڕێک: ناو=بەها", "Fields, one per line: name=value"),
    "expires_days": ("مدة الصلاحية بالأيام (0 بلا انتهاء)", "ماوەی کارایی بە ڕۆژ (0 بێ کۆتایی)", "Valid for days (0: no end)"),
    "keys": ("مفاتيح التوقيع", "کلیلەکانی واژۆ", "Signing keys"),
    "active": ("فعّال", "چالاک", "active"),
    "retired": ("متقاعد", "خانەنشین", "retired"),
    "withdrawn": ("مسحوب", "کشاوەتەوە", "withdrawn"),
    "revoke": ("إلغاء الوثيقة", "هەڵوەشاندنەوەی بەڵگەنامە", "Revoke"),
    "staff_users": ("حسابات الموظفين", "هەژمارەکانی فەرمانبەران", "Staff accounts"),
    "users_cli": ("تُنشأ الحسابات وتُعاد كلمات المرور بالأمر ur-central users على الخادم.",
                  "هەژمار دروست دەکرێن و وشەی نهێنی نوێ دەکرێتەوە بە فەرمانی ur-central users لەسەر ڕاژەکار.",
                  "Accounts are created and passwords reset with ur-central users on the server."),
    "full_name": ("الاسم الكامل", "ناوی تەواو", "Full name"),
    "role": ("الدور", "ڕۆڵ", "Role"),
    "failed_logins": ("محاولات دخول فاشلة", "هەوڵی چوونەژوورەوەی شکستخواردوو", "Failed logins"),
    "disabled": ("معطل", "ناچالاک", "Disabled"),
    "enabled": ("فعال", "چالاک", "Enabled"),
    "disable": ("تعطيل", "ناچالاککردن", "Disable"),
    "enable": ("تفعيل", "چالاککردن", "Enable"),
    "overview": ("نظرة عامة", "تێڕوانینی گشتی", "Overview"),
    "sla_by_agency": ("تجاوز المدد المحددة حسب الجهة", "تێپەڕاندنی ماوە بەپێی دامەزراوە", "SLA breaches by agency"),
    "breached": ("متجاوزة", "تێپەڕیو", "Breached"),
    "on_time": ("ضمن المدة", "لە کاتی خۆیدا", "On time"),
    "complaints_by": ("الشكاوى (5599) حسب الفئة والحالة", "سکاڵاکان (5599) بەپێی جۆر و دۆخ",
                      "Complaints (5599) by category and state"),
    "category": ("الفئة", "جۆر", "Category"),
    "total": ("المجموع", "کۆی گشتی", "Total"),
    "documents_per_day": ("الوثائق الصادرة والملغاة يومياً", "بەڵگەنامە دەرچوو و هەڵوەشاوەکان ڕۆژانە",
                          "Documents issued and revoked per day"),
    "verified_per_day": ("التحقق من الوثائق يومياً", "پشکنینی بەڵگەنامەکان ڕۆژانە", "Documents verified per day"),
    "verified_valid": ("تحقق: سارية", "پشکنین: دروست", "Verified: valid"),
    "verified_not_valid": ("تحقق: غير سارية", "پشکنین: نادروست", "Verified: not valid"),
    "issued": ("صادرة", "دەرچوو", "Issued"),
    "revoked": ("ملغاة", "هەڵوەشاوە", "Revoked"),
    "collections_per_day": ("التحصيلات يومياً حسب الدائرة والمحطة", "کۆکردنەوەکان ڕۆژانە بەپێی فەرمانگە و وێستگە",
                            "Collections per day, office and station"),
    "day": ("اليوم", "ڕۆژ", "Day"),
    "count": ("العدد", "ژمارە", "Count"),
    "nothing_yet": ("لا شيء بعد.", "هیچ شتێک نییە.", "Nothing yet."),
    "fleet": ("أكشاك الخدمة", "کیۆسکەکان", "Kiosk fleet"),
    "online": ("متصل", "پەیوەست", "online"),
    "offline": ("غير متصل", "پچڕاو", "offline"),
    "last_seen": ("آخر اتصال", "دوایین پەیوەندی", "Last seen"),
    "queue": ("في الانتظار", "لە ڕیزدا", "Queued"),
    "oldest": ("أقدم عنصر (ثانية)", "کۆنترین (چرکە)", "Oldest (s)"),
    "printer": ("الطابعة", "چاپکەر", "Printer"),
    "terminal": ("جهاز الدفع", "ئامێری پارەدان", "Card terminal"),
    # office queue (central/web/queue_pages.py)
    "Q_title": ("دور المراجعين", "نۆرەی سەردانیکەران", "Office queue"),
    "Q_board": ("شاشة الدور", "شاشەی نۆرە", "Queue board"),
    "Q_counter": ("الشباك", "پەنجەرە", "Counter"),
    "Q_group": ("مجموعة الشبابيك", "گرووپی پەنجەرەکان", "Counter group"),
    "Q_call_next": ("نداء التالي", "بانگکردنی دواتر", "Call next"),
    "Q_recall": ("إعادة النداء", "دووبارە بانگکردنەوە", "Call again"),
    "Q_done": ("انتهت الخدمة", "خزمەت تەواو بوو", "Done"),
    "Q_waiting": ("ينتظرون", "چاوەڕوانن", "Waiting"),
    "Q_called": ("تم النداء", "بانگ کرا", "Called"),
    "Q_nobody": ("لا أحد في الانتظار.", "کەس چاوەڕوان نییە.", "Nobody is waiting."),
    "Q_ticket": ("رقم الدور", "ژمارەی نۆرە", "Queue number"),
    "Q_open_case": ("فتح الطلب", "کردنەوەی داواکاری", "Open the application"),
    "Q_now_serving": ("يُخدم الآن", "ئێستا خزمەت دەکرێت", "Now serving"),
    "Q_sound_on": ("تشغيل الصوت", "دەنگ هەڵکردن", "Turn sound on"),
    "Q_stats": ("أوقات الانتظار", "کاتەکانی چاوەڕوانی", "Queue times"),
    "Q_wait_median": ("من التذكرة إلى النداء (الوسيط، دقيقة)", "لە پسوولەوە تا بانگکردن (ناوەند، خولەک)",
                      "Ticket to call (median, min)"),
    "Q_service_median": ("من النداء إلى انتهاء الخدمة (الوسيط، دقيقة)", "لە بانگکردنەوە تا تەواوبوون (ناوەند، خولەک)",
                         "Call to done (median, min)"),
    "Q_measured": ("التذاكر المقيسة", "پسوولە پێوراوەکان", "Measured tickets"),
    "Q_ticket_at": ("وقت التذكرة", "کاتی پسوولە", "Ticket time"),
}


def text(key: str, lang: str) -> str:
    row = TEXTS.get(key)
    if row is None:
        return key
    return row[LANGS.index(lang) if lang in LANGS else 0]


def digits(s: str, lang: str) -> str:
    """ASCII digits in `s` as the page's digits."""
    return s.translate(_INDIC) if lang in RTL else s


def num(n: int | float, lang: str) -> str:
    s = f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"
    if lang in RTL:
        s = s.replace(",", "\u066c").replace(".", "\u066b")  # Arabic thousands and decimal separators
    return digits(s, lang)


def _dt(value: int | float | str | datetime) -> datetime:
    if isinstance(value, datetime):
        d = value
    elif isinstance(value, str):
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        d = datetime.fromtimestamp(value, UTC)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(IRAQ)


def date(value: int | float | str | datetime | None, lang: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str) and len(value) == 10:  # a calendar date (letters): no time zone
        y, m, d = (int(x) for x in value.split("-"))
    else:
        dt = _dt(value)
        y, m, d = dt.year, dt.month, dt.day
    return digits(f"{d} {MONTHS[lang][m - 1]} {y}", lang)


def datetime_(value: int | float | str | datetime | None, lang: str) -> str:
    if value is None or value == "":
        return ""
    dt = _dt(value)
    return date(dt, lang) + digits(f" {dt:%H:%M}", lang)


@dataclass(frozen=True)
class Page:
    """What every template gets: the language, its direction and bound formatters."""

    lang: str

    @property
    def dir(self) -> str:
        return "rtl" if self.lang in RTL else "ltr"

    @property
    def t(self) -> Callable[[str], str]:
        return lambda key: text(key, self.lang)

    def num(self, n: int | float) -> str:
        return num(n, self.lang)

    def date(self, v: int | float | str | datetime | None) -> str:
        return date(v, self.lang)

    def datetime(self, v: int | float | str | datetime | None) -> str:
        return datetime_(v, self.lang)

    def digits(self, s: str) -> str:
        return digits(str(s), self.lang)


def pick(query: str | None, cookie: str | None) -> str:
    """?lang= first, then the cookie, then Arabic."""
    for v in (query, cookie):
        if v in LANGS:
            return str(v)
    return DEFAULT
