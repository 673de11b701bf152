-- The original PHP TaskManager's MySQL schema (per shared/LEGACY_SCHEMA.md), for adoption tests.
CREATE TABLE task_types (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    version VARCHAR(50) NOT NULL,
    param_schema_json TEXT NOT NULL,
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    INDEX idx_name (name),
    INDEX idx_active (is_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE tasks (
    id INT AUTO_INCREMENT PRIMARY KEY,
    type_id INT NOT NULL,
    status ENUM('pending', 'claimed', 'completed', 'failed') DEFAULT 'pending',
    params_json TEXT NOT NULL,
    dedupe_key VARCHAR(64) NOT NULL UNIQUE,
    result_json TEXT,
    error_message TEXT,
    priority INT DEFAULT 0,
    progress INT DEFAULT 0,
    attempts INT DEFAULT 0,
    claimed_by VARCHAR(255),
    claimed_at TIMESTAMP NULL,
    completed_at TIMESTAMP NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    FOREIGN KEY (type_id) REFERENCES task_types(id) ON DELETE CASCADE,
    INDEX idx_type_status (type_id, status),
    INDEX idx_status (status),
    INDEX idx_created (created_at),
    INDEX idx_priority (priority),
    INDEX idx_progress (progress),
    INDEX idx_claimed_at (claimed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE task_history (
    id INT AUTO_INCREMENT PRIMARY KEY,
    task_id INT NOT NULL,
    status_change VARCHAR(50) NOT NULL,
    worker_id VARCHAR(255),
    message TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE,
    INDEX idx_task (task_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_endpoints (
    id INT AUTO_INCREMENT PRIMARY KEY,
    path VARCHAR(255) NOT NULL,
    method ENUM('GET', 'POST', 'PUT', 'DELETE', 'PATCH') NOT NULL,
    description TEXT,
    action_type VARCHAR(100) NOT NULL,
    action_config_json TEXT NOT NULL,
    auth_required BOOLEAN DEFAULT FALSE,
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    UNIQUE KEY unique_endpoint (path, method)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_validations (
    id INT AUTO_INCREMENT PRIMARY KEY,
    endpoint_id INT NOT NULL,
    param_name VARCHAR(100) NOT NULL,
    param_source ENUM('body', 'query', 'path', 'header') NOT NULL,
    validation_rules_json TEXT NOT NULL,
    error_message VARCHAR(255),
    FOREIGN KEY (endpoint_id) REFERENCES api_endpoints(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_transformations (
    id INT AUTO_INCREMENT PRIMARY KEY,
    endpoint_id INT NOT NULL,
    transform_type ENUM('request', 'response') NOT NULL,
    transform_config_json TEXT NOT NULL,
    execution_order INT DEFAULT 0,
    is_active BOOLEAN DEFAULT TRUE,
    FOREIGN KEY (endpoint_id) REFERENCES api_endpoints(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
