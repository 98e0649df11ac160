// backup_demo: sqlkeep from C++ through bindings/cpp/sqlkeep.hpp. Backs up a SQLite
// database, lists, verifies and restores the backup, plans a rotation and runs the
// scheduler for a moment, printing each event.
//
//     c++ -std=c++17 backup_demo.cpp -Iinclude -Ibindings/cpp -Ltarget/release -lsqlkeep
//     ./a.out app.db [restored.db]
//
// Results are JSON strings; a real program would parse them with a JSON library
// (nlohmann/json, ...). This demo picks single fields with a small helper.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "sqlkeep.hpp"

namespace {

// The string value of "key":"..." in compact JSON, or "".
std::string field(const std::string &json, const std::string &key) {
    const std::string pattern = "\"" + key + "\":\"";
    auto start = json.find(pattern);
    if (start == std::string::npos) return "";
    start += pattern.size();
    auto end = json.find('"', start);
    return end == std::string::npos ? "" : json.substr(start, end - start);
}

int count(const std::string &haystack, const std::string &needle) {
    int n = 0;
    for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1))
        n++;
    return n;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: " << argv[0] << " DATABASE [RESTORED]\n";
        return 2;
    }
    const std::string database = argv[1];
    const std::string restored = argc == 3 ? argv[2] : database + ".restored";
    std::remove(restored.c_str());  // restore never overwrites: start from a free path

    try {
        std::cout << "sqlkeep " << sqlkeep_cpp::version() << "\n";
        sqlkeep_cpp::Keeper keeper(R"({"database": ")" + database +
                               R"(", "schedule": "02:00", "catch_up": true})");

        // Events may arrive on sqlkeep's threads: serialise the output.
        std::mutex print_lock;
        keeper.on_event([&print_lock](const std::string &event) {
            const std::string type = field(event, "type");
            if (type == "progress") return;
            const std::string id = field(event, "id");
            std::lock_guard<std::mutex> guard(print_lock);
            std::cout << "  event: " << type << (id.empty() ? "" : " " + id) << std::endl;
        });

        // 1. A backup with a label.
        const std::string manifest = keeper.backup("manual", "backup_demo (C++)");
        const std::string id = field(manifest, "id");
        std::cout << "backed up " << id << " into " << field(manifest, "file") << "\n";

        // 2. The backups, newest first.
        std::cout << count(keeper.list(), "\"format\":") << " backup(s) in the backup directory\n";

        // 3. Full verification; a damaged backup is a result, not an exception.
        const sqlkeep_cpp::Verification v = keeper.verify(id, true);
        std::cout << (v.ok ? "verified " : "DAMAGED ") << id << ": " << field(v.json, "detail")
                  << "\n";

        // 4. Restore into a new file.
        const std::string outcome = keeper.restore(id, restored);
        std::cout << "restored " << id << " to " << field(outcome, "target") << "\n";

        // 5. What rotation would delete.
        const std::string plan = keeper.rotate(true);
        std::cout << "rotation plan (dry run): "
                  << (plan.find("\"deleted\":[]") != std::string::npos ? "nothing to delete"
                                                                        : "some backups would go")
                  << "\n";

        // 6. The scheduler: wait for its first look at the schedule (catch-up), then stop.
        keeper.start_scheduler();
        std::cout << "scheduler started\n";
        std::string status = keeper.scheduler_status();
        for (int waited = 0; waited < 120000 && field(status, "last_slot").empty(); waited += 50) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            status = keeper.scheduler_status();
        }
        std::cout << "scheduler handled the slot of " << field(status, "last_slot")
                  << "; next run " << field(status, "next_run") << "\n";
        keeper.stop_scheduler();
        std::cout << "scheduler stopped\n";

        // Errors are exceptions with the code of sqlkeep.h.
        try {
            keeper.verify("no-such-backup");
        } catch (const sqlkeep_cpp::Error &e) {
            std::cout << "as expected, " << (e.status() == sqlkeep_cpp::Status::not_found
                                                 ? "not found: "
                                                 : "error: ")
                      << e.what() << "\n";
        }

        // 7. The destructor closes the handle (and would stop a running scheduler).
    } catch (const sqlkeep_cpp::Error &e) {
        std::cerr << "backup_demo: sqlkeep error " << e.code() << ": " << e.what() << "\n";
        return 1;
    }
    std::cout << "done\n";
    return 0;
}
